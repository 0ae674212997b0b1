// @ts-check
// What the page says about a job that has ended: the result box for a final status document, and the line
// about the last upload when a reloaded page finds it ended. Pure: words only, no DOM.

import { adviceFor } from './checks.js';
import { formatWhen } from './format.js';

/** @typedef {import('./api.js').StatusDoc} StatusDoc */
/**
 * The result box: kind 'ok' (ready), 'bad' (failed or cancelled) or 'gone' (it was ready; its Gemini file is
 * gone since, by age or by a delete).
 * @typedef {{kind: 'ok' | 'bad' | 'gone', title: string, text: string, uri: string | null, advice: string}} Outcome
 */

/**
 * The result for a final document, or null while the job is still moving.
 * @param {StatusDoc} doc
 * @returns {Outcome | null}
 */
export function outcomeOf(doc) {
  switch (doc.state) {
    case 'ACTIVE': {
      const until = formatWhen(doc.expiresAt);
      return { kind: 'ok', title: 'Ready', text: 'Gemini has the video and can analyse it.', uri: doc.fileUri ?? null,
        advice: until ? `Gemini keeps the file until ${until}.` : '' };
    }
    case 'FAILED':
      return { kind: 'bad', title: 'Failed', text: doc.error?.message || 'The upload failed.', uri: null,
        advice: adviceFor(doc.error?.code, doc.error?.retryable) };
    case 'CANCELLED':
      return { kind: 'bad', title: 'Cancelled', text: 'This upload was cancelled.', uri: null,
        advice: 'Choose the video again to start over.' };
    case 'EXPIRED': {
      const when = formatWhen(doc.expiredAt);
      return { kind: 'gone', title: 'Expired',
        text: `The video reached Gemini, but Gemini no longer keeps it${when ? ` (it expired ${when})` : ''}.`,
        uri: null, advice: 'To analyse it again, choose the video and upload it anew.' };
    }
    case 'DELETED': {
      const when = formatWhen(doc.deletedAt);
      return { kind: 'gone', title: 'Deleted',
        text: `The video reached Gemini, and its file there was deleted${when ? ` (${when})` : ''}.`,
        uri: null, advice: 'To analyse it again, choose the video and upload it anew.' };
    }
    default:
      return null;
  }
}

/**
 * The line shown after a reload when the saved upload has ended meanwhile: "…, ended: <how>." and, for a file
 * gone from Gemini, since when.
 * @param {string | null | undefined} fileName @param {StatusDoc} doc a final document
 * @returns {string}
 */
export function endedText(fileName, doc) {
  const what = `Your last upload${fileName ? `, “${fileName}”,` : ''} ended`;
  switch (doc.state) {
    case 'ACTIVE': return `${what}: ready.`;
    case 'FAILED': return `${what}: failed.`;
    case 'CANCELLED': return `${what}: cancelled.`;
    case 'EXPIRED': {
      const when = formatWhen(doc.expiredAt);
      return `${what}: expired. It reached Gemini, but Gemini no longer keeps the file${when ? ` (since ${when})` : ''}.`;
    }
    case 'DELETED': {
      const when = formatWhen(doc.deletedAt);
      return `${what}: deleted. It reached Gemini; the file there was deleted${when ? ` (${when})` : ''}.`;
    }
    default: return `${what}.`;
  }
}
