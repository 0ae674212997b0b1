// The page's state machine: IDLE -> SENDING (<-> PAUSED) -> TRACKING -> DONE (-> IDLE). Only IDLE starts an upload.
// SENDING goes through resumable.js (tus PATCHes at /api/uploads); after a reload, RESUME_OFFER asks for the file again.

import { cancelJob, fetchStatus, getConfig } from './api.js';
import { MIB, ResumableError, resumableUpload, sha256Base64 } from './resumable.js';
import { acquire, heldElsewhere, whenFree } from './lock.js';
import { Poller } from './poller.js';
import { clearAttempt, loadAttempt, newAttemptId, saveAttempt } from './store.js';
import { adviceFor, checkFile, mediaTypeOf } from './checks.js';
import { markFailedStage, renderStages } from './stages.js';
import { View, formatBytes, formatDuration } from './ui.js';

const IDLE = 'IDLE';
const STARTING = 'STARTING';
const RESUME_OFFER = 'RESUME_OFFER';
const SENDING = 'SENDING';
const PAUSED = 'PAUSED';
const TRACKING = 'TRACKING';
const CANCELLING = 'CANCELLING';
const DONE = 'DONE';
const FINAL = new Set(['ACTIVE', 'FAILED', 'CANCELLED', 'EXPIRED', 'DELETED']);

const view = new View();
const page = {
  state: IDLE,
  config: null,
  file: null,
  mediaType: null,
  // the stored record: {attemptId, jobId, uploadUrl, fileName, fileSize, lastModified, mediaType, headSha256, startedAt}
  attempt: null,
  chunks: [], // every PATCH: {offset, size, seconds, status} (shown to tests as window.focalpointChunks)
  controller: null,
  release: null, // the Web Lock's release
  processingSince: null,
  elsewhere: false,
  resumeNeedsFile: false, // the offered upload is incomplete: only picking the file again resumes it
};
const poller = new Poller({ onDoc: showDoc, onGone: jobGone, onTrouble: pollTrouble });

function setState(state) {
  page.state = state;
  document.body.dataset.state = state; // for styling and tests
  view.setPickerEnabled(state === IDLE && !page.elsewhere, Boolean(page.file && page.mediaType));
}

// --- choosing a file ------------------------------------------------------------------------------------------
function choose(file) {
  if (page.state !== IDLE) return;
  page.file = file ?? null;
  page.mediaType = null;
  view.showFile(page.file);
  view.formError(null);
  view.previous(null);
  if (page.file) {
    const problem = checkFile(page.file, page.config);
    if (problem) view.formError(problem);
    else page.mediaType = mediaTypeOf(page.file);
  }
  setState(IDLE);
}

// --- uploading --------------------------------------------------------------------------------------------------
async function start() {
  if (page.state !== IDLE || page.elsewhere || !page.file || !page.mediaType) return;
  setState(STARTING); // the button is disabled before anything else happens
  const release = await acquire().catch(() => () => {});
  if (!release) {
    otherTab();
    setState(IDLE);
    return;
  }
  page.release = release;
  const file = page.file;
  page.attempt = {
    attemptId: newAttemptId(), jobId: null, uploadUrl: null, fileName: file.name, fileSize: file.size,
    lastModified: file.lastModified, mediaType: page.mediaType, headSha256: await headSha256(file),
    startedAt: Date.now(),
  };
  saveAttempt(page.attempt);
  view.showPicker(false);
  view.startProgress(file.name, file.size);
  view.stage('send', 'active', 'Starting…');
  send(file);
}

/** sha256 of the first MiB: with name, size and lastModified, how a re-picked file is known to be the same. */
function headSha256(file) {
  return sha256Base64(file.slice(0, MIB)).catch(() => null);
}

/** Send (or carry on sending) `file` as page.attempt, in PATCHes; then track the job. */
async function send(file) {
  page.file = file;
  page.controller = new AbortController();
  setState(SENDING);
  view.setPauseMode('pause');
  const meter = speedMeter();
  try {
    const { jobId } = await resumableUpload(file, {
      mediaType: page.attempt.mediaType ?? page.mediaType,
      attemptId: page.attempt.attemptId,
      uploadUrl: page.attempt.uploadUrl,
      signal: page.controller.signal,
      onCreated: (url) => {
        page.attempt = { ...page.attempt, uploadUrl: url, jobId: decodeURIComponent(url.split('/').pop()) };
        saveAttempt(page.attempt);
      },
      onAck: ({ offset, total }) => ackProgress(offset, total, meter),
      onSending: (loaded) => sendingDetail(loaded, file.size, meter),
      onChunk: (info) => { page.chunks.push(info); },
      onRetry: ({ reason, delayMs }) => sendRetry(reason, delayMs),
    });
    if (page.state !== SENDING) return;
    page.attempt = { ...page.attempt, jobId };
    saveAttempt(page.attempt);
    view.setPauseMode(null);
    view.stage('send', 'done', `${formatBytes(file.size)} received`);
    view.bar('send', 100, 'Received by FocalPoint');
    view.note(null);
    track(jobId);
  } catch (err) {
    if (err.name === 'AbortError' || page.state !== SENDING) return; // pause() or cancel() takes over
    view.setPauseMode(null);
    view.stage('send', 'failed', '');
    const advice = err instanceof ResumableError && err.status === 0
      ? 'Check your connection, then upload the file again.'
      : adviceFor(err.code, err.status >= 500);
    finish('bad', 'Upload failed', err.message, { advice });
  }
}

function speedMeter() {
  return { t: performance.now(), loaded: 0, rate: null, acked: 0 };
}

/** The bar shows only what the server acknowledged: 100 % only once the last PATCH is answered. */
function ackProgress(offset, total, meter) {
  if (page.state !== SENDING) return;
  meter.acked = offset;
  const pct = offset >= total ? 99 : Math.min(99, (offset / total) * 100);
  view.bar('send', pct, `${formatBytes(offset)} of ${formatBytes(total)} received by FocalPoint`);
  document.body.dataset.acked = String(offset); // for tests
  sendingDetail(offset, total, meter);
}

function sendingDetail(loaded, total, meter) {
  if (page.state !== SENDING) return;
  const now = performance.now();
  const dt = (now - meter.t) / 1000;
  if (dt >= 0.25 && loaded >= meter.loaded) {
    const rate = (loaded - meter.loaded) / dt;
    meter.rate = meter.rate == null ? rate : 0.7 * meter.rate + 0.3 * rate;
  }
  if (dt >= 0.25 || loaded < meter.loaded) { meter.t = now; meter.loaded = loaded; }
  const parts = [`${formatBytes(meter.acked)} of ${formatBytes(total)} received`];
  if (meter.rate > 0) {
    parts.push(`${formatBytes(meter.rate)}/s`);
    parts.push(`${formatDuration((total - meter.acked) / meter.rate)} left`);
  }
  view.stage('send', 'active', parts.join(' · '));
}

// --- pause and resume ---------------------------------------------------------------------------------------------
function pause() {
  if (page.state !== SENDING || !page.attempt?.uploadUrl) return;
  setState(PAUSED);
  page.controller?.abort(); // the server keeps every PATCH it answered; the one in flight is sent again
  view.setPauseMode('resume');
  view.stage('send', 'active', `Paused at ${formatBytes(Number(document.body.dataset.acked || 0))}`);
  view.note('Paused. FocalPoint keeps what it has received; resume to send the rest.');
}

function unpause() {
  if (page.state !== PAUSED || !page.file) return;
  view.note(null);
  send(page.file);
}

function sendRetry(reason, delayMs) {
  const secs = Math.max(1, Math.round(delayMs / 1000));
  const why = {
    network: 'The connection dropped',
    429: 'FocalPoint is busy',
    409: 'FocalPoint is still receiving an earlier try of this upload',
    in_progress: 'FocalPoint is still receiving an earlier try of this upload',
    503: 'FocalPoint is briefly unavailable',
  }[reason] ?? 'FocalPoint could not answer';
  view.note(`${why}; trying again in ${secs} s (the same upload, never a duplicate).`);
}

// --- tracking the job on the server ---------------------------------------------------------------------------------
function track(jobId, firstDoc) {
  setState(TRACKING);
  if (firstDoc?.state) showDoc({ ...firstDoc, progress: null });
  poller.start(jobId);
}

function showDoc(doc) {
  if (page.state !== TRACKING) return;
  view.note(null);
  if (doc.state === 'PROCESSING') {
    page.processingSince ??= Math.min(Date.now(), Date.parse(doc.updatedAt) || Date.now());
    startClock();
  }
  renderStages(view, doc, { fileSize: page.attempt?.fileSize, processingSince: page.processingSince });
  switch (doc.state) {
    case 'ACTIVE':
      finish('ok', 'Ready', 'Gemini has the video and can analyse it.', {
        uri: doc.fileUri,
        advice: doc.expiresAt ? `Gemini keeps the file until ${new Date(doc.expiresAt).toLocaleString()}.` : '',
      });
      break;
    case 'FAILED':
      markFailedStage(view);
      finish('bad', 'Failed', doc.error?.message || 'The upload failed.', {
        advice: adviceFor(doc.error?.code, doc.error?.retryable),
      });
      break;
    case 'CANCELLED':
      markFailedStage(view);
      finish('bad', 'Cancelled', 'This upload was cancelled.', { advice: 'Choose the video again to start over.' });
      break;
    case 'EXPIRED':
    case 'DELETED':
      finish('bad', doc.state === 'EXPIRED' ? 'Expired' : 'Deleted',
        doc.state === 'EXPIRED' ? 'Gemini no longer keeps this video.' : 'This video was deleted from Gemini.',
        { advice: 'Choose the video again to upload it anew.' });
      break;
    default:
      break;
  }
  if (doc.retrying && !FINAL.has(doc.state)) {
    view.note(`Gemini had a problem (${doc.retrying.lastError}); retrying automatically (attempt ${doc.retrying.attempts}).`);
  }
}

let clock = null;
function startClock() {
  if (clock) return;
  clock = setInterval(() => {
    const li = document.querySelector('[data-stage="process"]');
    if (page.state !== TRACKING || li.dataset.status !== 'active') { clearInterval(clock); clock = null; return; }
    view.stage('process', 'active', `${formatDuration((Date.now() - page.processingSince) / 1000)} elapsed`);
  }, 1000);
}

function pollTrouble(kind, waitMs) {
  if (page.state !== TRACKING) return;
  if (kind === 'busy') {
    view.note(`Checking the status less often for a moment (the server asked us to slow down; next check in ${
      Math.max(1, Math.round(waitMs / 1000))} s).`);
  } else {
    view.note('Cannot reach FocalPoint right now; still trying. Your upload carries on on the server.');
  }
}

function jobGone() {
  if (page.state !== TRACKING) return;
  markFailedStage(view);
  finish('bad', 'Upload not found', 'FocalPoint no longer knows this upload (it may have expired).',
    { advice: 'Choose the video again to upload it.' });
}

function finish(kind, title, text, extra) {
  poller.stop();
  page.controller = null;
  clearAttempt();
  view.result(kind, title, text, extra);
  page.release?.();
  page.release = null;
  setState(DONE);
}

// --- cancel ---------------------------------------------------------------------------------------------------------
async function cancel() {
  if (page.state !== SENDING && page.state !== PAUSED && page.state !== TRACKING) return;
  setState(CANCELLING);
  view.setCancelEnabled(false);
  view.note('Cancelling…');
  page.controller?.abort();
  poller.stop();
  let jobId = page.attempt?.jobId;
  if (!jobId && page.attempt) {
    // The creation was cut; the server may still have made a job of it.
    const r = await fetchStatus({ attemptId: page.attempt.attemptId });
    if (r.status === 200 && r.doc && !FINAL.has(r.doc.state)) jobId = r.doc.jobId;
  }
  if (jobId) {
    const r = await cancelJob(jobId);
    if (r.status === 409 && r.error?.code === 'job_final') {
      // It ended first. If it became ready, say so; a job that failed (e.g. because we cut the upload) is
      // what the user asked for: it is cancelled.
      const s = await fetchStatus({ jobId });
      if (s.doc?.state === 'ACTIVE') { setState(TRACKING); showDoc(s.doc); return; }
    }
  }
  markFailedStage(view);
  finish('bad', 'Cancelled', 'The upload was cancelled.', { advice: 'Choose a video to start again.' });
}

// --- resume after a reload ------------------------------------------------------------------------------------------
async function checkSaved() {
  const saved = loadAttempt();
  if (!saved) return;
  if (await heldElsewhere().catch(() => false)) {
    otherTab(checkSaved);
    return;
  }
  const r = await fetchStatus(saved.jobId ? { jobId: saved.jobId } : { attemptId: saved.attemptId });
  if (r.status === 404 || (r.status === 200 && r.doc && FINAL.has(r.doc.state))) {
    clearAttempt();
    if (r.doc) view.previous(`Your last upload${saved.fileName ? `, “${saved.fileName}”,` : ''} ended: ${
      { ACTIVE: 'ready', FAILED: 'failed', CANCELLED: 'cancelled', EXPIRED: 'expired', DELETED: 'deleted' }[r.doc.state]}.`);
    return;
  }
  if (page.state !== IDLE) return;
  page.attempt = { ...saved, jobId: saved.jobId ?? r.doc?.jobId ?? null };
  if (!page.attempt.jobId && r.status === 200) return; // unreachable: a 200 always has a job id
  setState(RESUME_OFFER);
  // Still receiving: only this browser has the rest of the file, and a page cannot keep a file across a
  // reload, so the user picks it again.
  const needsFile = Boolean(saved.uploadUrl) && r.doc?.state === 'SPOOLING';
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
    setState(IDLE);
    otherTab(checkSaved);
    return null;
  }
  page.release = release;
  return release;
}

/** The file picked again after a reload: the same one (name, size, lastModified, first MiB), then carry on. */
async function repick(file) {
  if (page.state !== RESUME_OFFER || !file || !page.attempt?.uploadUrl) return;
  const a = page.attempt;
  const same = file.name === a.fileName && file.size === a.fileSize && file.lastModified === a.lastModified
    && (await headSha256(file)) === a.headSha256;
  if (!same) {
    view.resumeError(`That is not “${a.fileName}” (${formatBytes(a.fileSize)}) as it was when the upload started.`);
    return;
  }
  if (page.state !== RESUME_OFFER) return;
  if (!(await lockForResume())) return;
  page.resumeNeedsFile = false;
  view.hideResume();
  view.showPicker(false);
  view.startProgress(a.fileName, a.fileSize);
  view.stage('send', 'active', 'Asking FocalPoint how much it has…');
  send(file);
}

async function resumeYes() {
  if (page.state !== RESUME_OFFER) return;
  view.hideResume();
  const release = await lockForResume();
  if (!release) return;
  let jobId = page.attempt.jobId;
  if (!jobId) {
    const r = await fetchStatus({ attemptId: page.attempt.attemptId });
    jobId = r.doc?.jobId ?? null;
  }
  if (!jobId) {
    release();
    page.release = null;
    clearAttempt();
    setState(IDLE);
    view.previous('That upload never reached FocalPoint; choose the video again.');
    return;
  }
  page.attempt = { ...page.attempt, jobId };
  saveAttempt(page.attempt);
  view.showPicker(false);
  view.startProgress(page.attempt.fileName, page.attempt.fileSize);
  track(jobId);
}

function resumeNo() {
  if (page.state !== RESUME_OFFER) return;
  view.hideResume();
  // An upload still receiving can only ever be finished from here: forgetting it cancels it, so its partial
  // file is removed now rather than at expiry. A received job carries on; "no" only stops showing it.
  if (page.resumeNeedsFile && page.attempt?.jobId) cancelJob(page.attempt.jobId);
  page.resumeNeedsFile = false;
  clearAttempt();
  page.attempt = null;
  setState(IDLE);
}

function otherTab(then) {
  page.elsewhere = true;
  view.showElsewhere(true);
  setState(page.state);
  whenFree(() => {
    page.elsewhere = false;
    view.showElsewhere(false);
    setState(page.state);
    then?.();
  });
}

function again() {
  if (page.state !== DONE) return;
  page.attempt = null;
  page.processingSince = null;
  view.hideProgress();
  view.showPicker(true);
  setState(IDLE);
  choose(page.file); // the same file stays chosen: upload it again with one click (a new attempt)
  document.getElementById('drop').focus?.();
}

// --- wiring ------------------------------------------------------------------------------------------------------------
function wire() {
  const input = document.getElementById('file');
  const drop = document.getElementById('drop');
  input.addEventListener('change', () => choose(input.files[0]));
  document.getElementById('picker').addEventListener('submit', (e) => { e.preventDefault(); start(); });
  document.getElementById('cancel').addEventListener('click', cancel);
  document.getElementById('again').addEventListener('click', again);
  document.getElementById('resume-yes').addEventListener('click', resumeYes);
  document.getElementById('resume-no').addEventListener('click', resumeNo);
  const again2 = /** @type {HTMLInputElement} */ (document.getElementById('resume-file'));
  again2.addEventListener('change', () => { repick(again2.files[0]); again2.value = ''; });
  document.getElementById('pause').addEventListener('click', () => (page.state === PAUSED ? unpause() : pause()));
  document.getElementById('copy').addEventListener('click', () => {
    navigator.clipboard?.writeText(document.getElementById('result-uri').textContent).catch(() => {});
  });
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      if (page.state === IDLE) drop.classList.add('over');
    });
  }
  for (const type of ['dragleave', 'drop']) drop.addEventListener(type, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    if (page.state === IDLE && e.dataTransfer?.files?.length) choose(e.dataTransfer.files[0]);
  });
  // A file dropped anywhere else must not navigate away from a running upload.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  window.addEventListener('beforeunload', (e) => {
    if (page.state === SENDING) e.preventDefault(); // leaving now would stop sending the file
  });
}

async function init() {
  window.focalpointChunks = page.chunks; // what each PATCH did, for the tests and for support
  wire();
  setState(IDLE);
  try {
    page.config = await getConfig();
    view.setLimits(`Videos up to ${formatBytes(page.config.maxUploadBytes)}.`);
    view.setEmulated(page.config.geminiEmulated === true);
    document.getElementById('file').accept = page.config.allowedMediaTypes.join(',');
  } catch {
    view.setLimits('');
    view.formError('The upload limits could not be loaded; reload the page to try again.');
  }
  if (page.file) choose(page.file);
  await checkSaved();
  document.body.dataset.ready = 'true';
}

init();
