// @ts-check
// How a job's status document shows on the stage list: one stage per leg, never 100 % before the server says so.
// Pure over the view: it only calls the View's stage() and bar().

import { formatBytes, formatDuration } from './format.js';

/** @typedef {import('./api.js').StatusDoc} StatusDoc */
/**
 * The part of ui.js's View this module uses.
 * @typedef {{
 *   stage: (stage: string, status: string, detail?: string) => void,
 *   bar: (stage: string, pct: number | null, valueText?: string) => void,
 * }} StageView
 */

/**
 * Render `doc` (GET /api/upload/status) on the stages.
 * @param {StageView} view
 * @param {StatusDoc} doc
 * @param {{fileSize?: number | null, processingSince?: number | null, now?: number}} ctx known to the page
 */
export function renderStages(view, doc, ctx) {
  const now = ctx.now ?? Date.now();
  view.stage('send', 'done', ctx.fileSize ? `${formatBytes(ctx.fileSize)} received` : 'Received');
  view.bar('send', 100, 'Received by FocalPoint');
  const p = doc.progress ?? {};
  switch (doc.state) {
    case 'SPOOLING':
      view.stage('send', 'active', 'Receiving…');
      view.bar('send', null);
      break;
    case 'SPOOLED':
      view.stage('gemini', 'active', doc.waiting === 'gemini_storage'
        ? 'Waiting for space at Gemini…' : 'Waiting for a free upload slot…');
      view.bar('gemini', null);
      break;
    case 'UPLOADING': {
      const total = p.bytesTotal || ctx.fileSize;
      const done = p.bytesUploaded ?? 0;
      // Gemini's last acknowledgement moves the job to PROCESSING; until then it is never 100 %.
      const pct = total ? Math.min(99, (done / total) * 100) : null;
      view.stage('gemini', 'active', total ? `${formatBytes(done)} of ${formatBytes(total)}` : 'Uploading…');
      view.bar('gemini', pct, total ? `${formatBytes(done)} of ${formatBytes(total)} uploaded to Gemini` : undefined);
      break;
    }
    case 'PROCESSING':
      geminiDone(view, p);
      view.stage('process', 'active', ctx.processingSince
        ? `${formatDuration((now - ctx.processingSince) / 1000)} elapsed` : '');
      view.bar('process', null);
      break;
    case 'ACTIVE':
      geminiDone(view, p);
      view.stage('process', 'done', ctx.processingSince ? formatDuration((now - ctx.processingSince) / 1000) : '');
      view.bar('process', 100, 'Done');
      break;
    case 'EXPIRED':
    case 'DELETED':
      // It went all the way (it was ACTIVE); only the file at Gemini is gone since.
      geminiDone(view, p);
      view.stage('process', 'done', '');
      view.bar('process', 100, 'Done');
      break;
    default:
      break;
  }
}

/** @param {StageView} view @param {{bytesTotal?: number | null}} p */
function geminiDone(view, p) {
  view.stage('gemini', 'done', p.bytesTotal ? `${formatBytes(p.bytesTotal)} uploaded` : 'Uploaded');
  view.bar('gemini', 100, 'Uploaded to Gemini');
}
