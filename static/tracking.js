// @ts-check
// Tracking the job on the server once the file is in: the poller's documents on the stages, the end of the job
// as a result, and cancel (which a job that just became ready turns into a delete of its Gemini file).

import { UploadError, cancelJob, fetchStatus } from './api.js';
import { formatDuration } from './format.js';
import { can } from './machine.js';
import { outcomeOf } from './outcome.js';
import { go, page, view } from './page.js';
import { FINAL, Poller } from './poller.js';
import { renderStages } from './stages.js';
import { clearAttempt } from './store.js';

/** @typedef {import('./api.js').StatusDoc} StatusDoc */

export const poller = new Poller({ fetchStatus, onDoc: showDoc, onGone: jobGone, onTrouble: pollTrouble,
  isHidden: () => view.hidden() });

/**
 * Move by `event` (SENT, TRACK) to TRACKING and poll `jobId`.
 * @param {string} jobId @param {'SENT' | 'TRACK'} event
 */
export function track(jobId, event) {
  go(event);
  poller.start(jobId);
}

// --- tracking the job on the server ---------------------------------------------------------------------------------
/** @param {StatusDoc} doc */
export function showDoc(doc) {
  if (!can(page.state, 'DOC')) return;
  view.note(null);
  if (doc.state === 'PROCESSING') {
    page.processingSince ??= Math.min(Date.now(), Date.parse(doc.updatedAt ?? '') || Date.now());
    startClock();
  }
  renderStages(view, doc, { fileSize: page.attempt?.fileSize, processingSince: page.processingSince });
  const outcome = outcomeOf(doc);
  if (outcome) {
    if (outcome.kind === 'bad') view.failCurrentStage();
    finish(outcome);
  } else if (doc.retrying) {
    view.note(`Gemini had a problem (${doc.retrying.lastError}); retrying automatically (attempt ${doc.retrying.attempts}).`);
  }
}

/** @type {ReturnType<typeof setInterval> | null} */
let clock = null;
function startClock() {
  if (clock) return;
  clock = setInterval(() => {
    if (!can(page.state, 'DOC') || view.stageStatus('process') !== 'active' || page.processingSince == null) {
      if (clock) clearInterval(clock);
      clock = null;
      return;
    }
    view.stage('process', 'active', `${formatDuration((Date.now() - page.processingSince) / 1000)} elapsed`);
  }, 1000);
}

/** @param {'busy' | 'offline'} kind @param {number | null} waitMs */
function pollTrouble(kind, waitMs) {
  if (!can(page.state, 'DOC')) return;
  if (kind === 'busy') {
    view.note(`Checking the status less often for a moment (the server asked us to slow down; next check in ${
      Math.max(1, Math.round((waitMs ?? 1000) / 1000))} s).`);
  } else {
    view.note('Cannot reach FocalPoint right now; still trying. Your upload carries on on the server.');
  }
}

function jobGone() {
  if (!can(page.state, 'DOC')) return;
  view.failCurrentStage();
  finish({ kind: 'bad', title: 'Upload not found', uri: null,
    text: 'FocalPoint no longer knows this upload (it may have expired).',
    advice: 'Choose the video again to upload it.' });
}

/** @param {import('./outcome.js').Outcome} outcome */
export function finish(outcome) {
  poller.stop();
  page.controller = null;
  clearAttempt();
  view.result(outcome.kind, outcome.title, outcome.text, { uri: outcome.uri, advice: outcome.advice });
  page.release?.();
  page.release = null;
  go('FINISH');
}

// --- cancel ---------------------------------------------------------------------------------------------------------
export async function cancel() {
  if (!can(page.state, 'CANCEL')) return;
  go('CANCEL');
  view.setCancelEnabled(false);
  view.note('Cancelling…');
  page.controller?.abort();
  poller.stop();
  const attempt = page.attempt;
  let jobId = attempt?.jobId ?? null;
  if (!jobId && attempt) {
    // The creation was cut; the server may still have made a job of it.
    const found = await fetchStatus({ attemptId: attempt.attemptId }).catch(() => null);
    if (found?.doc && !FINAL.has(found.doc.state)) jobId = found.doc.jobId;
  }
  if (jobId) {
    try {
      const doc = await cancelJob(jobId);
      // It became ready just before: the DELETE deleted its Gemini file instead (DELETED). Show that.
      if (doc.state === 'DELETED') { go('TRACK'); showDoc(doc); return; }
    } catch (err) {
      if (err instanceof UploadError && err.status === 409 && err.code === 'job_final') {
        // It ended first. If it became ready, say so; a job that failed (e.g. because we cut the upload) is
        // what the user asked for: it is cancelled.
        const now = await fetchStatus({ jobId }).catch(() => null);
        if (now?.doc?.state === 'ACTIVE') { go('TRACK'); showDoc(now.doc); return; }
      }
    }
  }
  view.failCurrentStage();
  finish({ kind: 'bad', title: 'Cancelled', text: 'The upload was cancelled.', uri: null,
    advice: 'Choose a video to start again.' });
}
