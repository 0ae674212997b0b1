// @ts-check
// After a reload: the saved attempt is looked up and offered. A job past receiving is tracked again; an upload
// still receiving needs the same file picked again (checked by name, size, lastModified and its first MiB),
// then carries on from the server's offset. "No" forgets it (and cancels an incomplete upload).

import { UploadError, cancelJob, fetchStatus } from './api.js';
import { formatBytes } from './format.js';
import { acquire, heldElsewhere } from './lock.js';
import { can } from './machine.js';
import { endedText } from './outcome.js';
import { go, otherTab, page, view } from './page.js';
import { FINAL } from './poller.js';
import { headSha256, send } from './sending.js';
import { clearAttempt, loadAttempt, saveAttempt } from './store.js';
import { track } from './tracking.js';

/** @typedef {import('./api.js').StatusDoc} StatusDoc */

// --- resume after a reload ------------------------------------------------------------------------------------------
export async function checkSaved() {
  const saved = loadAttempt();
  if (!saved) return;
  if (await heldElsewhere().catch(() => false)) {
    otherTab(checkSaved);
    return;
  }
  /** @type {StatusDoc | null} */
  let doc = null;
  try {
    doc = (await fetchStatus(saved.jobId ? { jobId: saved.jobId } : { attemptId: saved.attemptId })).doc;
  } catch (err) {
    if (err instanceof UploadError && err.status === 404) { clearAttempt(); return; }
    // Anything else (offline, busy): offer it anyway; watching it polls again.
  }
  if (doc && FINAL.has(doc.state)) {
    clearAttempt();
    view.previous(endedText(saved.fileName, doc));
    return;
  }
  if (!can(page.state, 'OFFER')) return;
  page.attempt = { ...saved, jobId: saved.jobId ?? doc?.jobId ?? null };
  go('OFFER');
  // Still receiving: only this browser has the rest of the file, and a page cannot keep a file across a
  // reload, so the user picks it again.
  const needsFile = Boolean(saved.uploadUrl) && doc?.state === 'SPOOLING';
  page.resumeNeedsFile = needsFile;
  view.offerResume(saved, needsFile);
}

/**
 * Take the one-upload-per-browser lock to carry on a saved upload. Without it (another tab holds it), back to
 * idle, say so, and look at the saved upload again once that tab lets go.
 * @returns {Promise<(() => void) | null>} the lock's release (also kept in page.release), or null
 */
async function lockForResume() {
  const release = await acquire().catch(() => () => {});
  if (!release) {
    go('LOCK_REFUSED');
    otherTab(checkSaved);
    return null;
  }
  page.release = release;
  return release;
}

/** The file picked again after a reload: the same one (name, size, lastModified, first MiB), then carry on. @param {File | null} file */
export async function repick(file) {
  const a = page.attempt;
  if (!can(page.state, 'RESUME') || !file || !a?.uploadUrl) return;
  const same = file.name === a.fileName && file.size === a.fileSize && file.lastModified === a.lastModified
    && (await headSha256(file)) === a.headSha256;
  if (!same) {
    view.resumeError(`That is not “${a.fileName}” (${formatBytes(a.fileSize)}) as it was when the upload started.`);
    return;
  }
  if (!can(page.state, 'RESUME') || page.attempt !== a) return; // "no" was clicked meanwhile
  go('RESUME');
  view.hideResume();
  if (!(await lockForResume())) return;
  page.resumeNeedsFile = false;
  view.showPicker(false);
  view.startProgress(a.fileName, a.fileSize);
  view.stage('send', 'active', 'Asking FocalPoint how much it has…');
  send(file, 'SEND');
}

export async function resumeYes() {
  const attempt = page.attempt;
  if (!can(page.state, 'RESUME') || !attempt) return;
  go('RESUME');
  view.hideResume();
  const release = await lockForResume();
  if (!release) return;
  let jobId = attempt.jobId;
  if (!jobId) {
    const found = await fetchStatus({ attemptId: attempt.attemptId }).catch(() => null);
    jobId = found?.doc?.jobId ?? null;
  }
  if (!jobId) {
    release();
    page.release = null;
    page.attempt = null;
    clearAttempt();
    go('FORGET');
    view.previous('That upload never reached FocalPoint; choose the video again.');
    return;
  }
  page.attempt = { ...attempt, jobId };
  saveAttempt(page.attempt);
  view.showPicker(false);
  view.startProgress(attempt.fileName, attempt.fileSize);
  track(jobId, 'TRACK');
}

export function resumeNo() {
  if (!can(page.state, 'DISMISS')) return;
  view.hideResume();
  // An upload still receiving can only ever be finished from here: forgetting it cancels it, so its partial
  // file is removed now rather than at expiry. A received job carries on; "no" only stops showing it.
  if (page.resumeNeedsFile && page.attempt?.jobId) cancelJob(page.attempt.jobId).catch(() => {});
  page.resumeNeedsFile = false;
  clearAttempt();
  page.attempt = null;
  go('DISMISS');
}
