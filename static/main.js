// @ts-check
// The page's controller: what each click and each answer does. Its states and moves are machine.js's table
// (IDLE -> STARTING -> SENDING <-> PAUSED -> TRACKING -> DONE -> IDLE; after a reload RESUME_OFFER -> RESUMING);
// `can` decides whether a click or a late answer still applies, `go` moves. Sending goes through resumable.js
// (tus PATCHes at /api/uploads), tracking through poller.js; everything shown goes through ui.js.

import { UploadError, cancelJob, fetchStatus, getConfig, setAuthToken } from './api.js';
import { MIB, resumableUpload, sha256Base64 } from './resumable.js';
import { acquire, heldElsewhere, whenFree } from './lock.js';
import { FINAL, Poller } from './poller.js';
import { clearAttempt, loadAttempt, newAttemptId, saveAttempt } from './store.js';
import { adviceFor, checkFile, mediaTypeOf } from './checks.js';
import { renderStages } from './stages.js';
import { endedText, outcomeOf } from './outcome.js';
import { advance, can } from './machine.js';
import { View, formatBytes, formatDuration, pageToken } from './ui.js';

/** @typedef {import('./machine.js').PageState} PageState */
/** @typedef {import('./machine.js').PageEvent} PageEvent */
/** @typedef {import('./api.js').StatusDoc} StatusDoc */
/** @typedef {import('./store.js').Attempt} Attempt */
/** @typedef {{t: number, loaded: number, rate: number | null, acked: number}} Meter */

const view = new View();
const page = {
  /** @type {PageState} */
  state: 'IDLE',
  /** @type {import('./api.js').UploadConfig | null} */
  config: null,
  /** @type {File | null} */
  file: null,
  /** @type {string | null} */
  mediaType: null,
  /** @type {Attempt | null} the stored record of the upload under way */
  attempt: null,
  /** @type {{offset: number, size: number, seconds: number, status: number}[]} every PATCH (for tests, support) */
  chunks: [],
  /** @type {AbortController | null} the current send's; aborted by pause and cancel */
  controller: null,
  /** @type {(() => void) | null} the Web Lock's release */
  release: null,
  /** @type {number | null} */
  processingSince: null,
  acked: 0, // bytes the server acknowledged
  elsewhere: false, // another tab holds the upload lock
  resumeNeedsFile: false, // the offered upload is incomplete: only picking the file again resumes it
};
const poller = new Poller({ fetchStatus, onDoc: showDoc, onGone: jobGone, onTrouble: pollTrouble,
  isHidden: () => view.hidden() });

/** Move by `event`; throws (machine.js) on a move the table does not have. @param {PageEvent} event */
function go(event) {
  page.state = advance(page.state, event);
  render();
}

function render() {
  view.setState(page.state);
  view.setPickerEnabled(can(page.state, 'CHOOSE') && !page.elsewhere, Boolean(page.file && page.mediaType));
}

// --- choosing a file ------------------------------------------------------------------------------------------
/** @param {File | null} file */
function choose(file) {
  if (!can(page.state, 'CHOOSE')) return;
  page.file = file;
  page.mediaType = null;
  view.showFile(file);
  view.formError(null);
  view.previous(null);
  if (file) {
    const problem = checkFile(file, page.config);
    if (problem) view.formError(problem);
    else page.mediaType = mediaTypeOf(file);
  }
  go('CHOOSE');
}

// --- uploading --------------------------------------------------------------------------------------------------
async function start() {
  const { file, mediaType } = page;
  if (!can(page.state, 'START') || page.elsewhere || !file || !mediaType) return;
  go('START'); // the button is disabled before anything else happens
  const release = await acquire().catch(() => () => {});
  if (!release) {
    go('LOCK_REFUSED');
    otherTab();
    return;
  }
  page.release = release;
  page.attempt = {
    attemptId: newAttemptId(), jobId: null, uploadUrl: null, fileName: file.name, fileSize: file.size,
    lastModified: file.lastModified, mediaType, headSha256: await headSha256(file), startedAt: Date.now(),
  };
  saveAttempt(page.attempt);
  view.showPicker(false);
  view.startProgress(file.name, file.size);
  view.stage('send', 'active', 'Starting…');
  send(file, 'SEND');
}

/** sha256 of the first MiB: with name, size and lastModified, how a re-picked file is known to be the same. @param {File} file */
function headSha256(file) {
  return sha256Base64(file.slice(0, MIB)).catch(() => null);
}

/**
 * Send (or carry on sending) `file` as page.attempt, in PATCHes; then track the job. Pause and cancel abort
 * this send's controller: from then on its answers are not ours.
 * @param {File} file @param {'SEND' | 'UNPAUSE'} event
 */
async function send(file, event) {
  const attempt = /** @type {Attempt} */ (page.attempt);
  const controller = new AbortController();
  page.file = file;
  page.controller = controller;
  go(event);
  view.setPauseMode('pause');
  const meter = speedMeter();
  const stopped = () => controller.signal.aborted || page.controller !== controller;
  try {
    const { jobId } = await resumableUpload(file, {
      mediaType: attempt.mediaType, attemptId: attempt.attemptId, uploadUrl: attempt.uploadUrl,
      signal: controller.signal,
      onCreated: (url) => {
        page.attempt = { ...attempt, uploadUrl: url, jobId: decodeURIComponent(url.split('/').pop() ?? '') };
        saveAttempt(page.attempt);
      },
      onAck: ({ offset, total }) => ackProgress(offset, total, meter),
      onSending: (loaded) => sendingDetail(loaded, file.size, meter),
      onChunk: (info) => { page.chunks.push(info); },
      onRetry: ({ reason, delayMs }) => sendRetry(reason, delayMs),
    });
    if (stopped()) return;
    page.attempt = { .../** @type {Attempt} */ (page.attempt), jobId };
    saveAttempt(page.attempt);
    view.setPauseMode(null);
    view.stage('send', 'done', `${formatBytes(file.size)} received`);
    view.bar('send', 100, 'Received by FocalPoint');
    view.note(null);
    go('SENT');
    poller.start(jobId);
  } catch (err) {
    if (stopped()) return; // pause() or cancel() takes over
    const e = err instanceof UploadError ? err : new UploadError(0, 'network', String(err));
    view.setPauseMode(null);
    view.stage('send', 'failed', '');
    const advice = e.status === 0
      ? 'Check your connection, then upload the file again.'
      : adviceFor(e.code, e.status >= 500);
    finish({ kind: 'bad', title: 'Upload failed', text: e.message, uri: null, advice });
  }
}

/** @returns {Meter} */
function speedMeter() {
  return { t: performance.now(), loaded: 0, rate: null, acked: 0 };
}

/**
 * The bar shows only what the server acknowledged: 100 % only once the last PATCH is answered.
 * @param {number} offset @param {number} total @param {Meter} meter
 */
function ackProgress(offset, total, meter) {
  if (!can(page.state, 'PROGRESS')) return;
  meter.acked = offset;
  page.acked = offset;
  const pct = offset >= total ? 99 : Math.min(99, (offset / total) * 100);
  view.bar('send', pct, `${formatBytes(offset)} of ${formatBytes(total)} received by FocalPoint`);
  view.setAcked(offset);
  sendingDetail(offset, total, meter);
}

/** @param {number} loaded @param {number} total @param {Meter} meter */
function sendingDetail(loaded, total, meter) {
  if (!can(page.state, 'PROGRESS')) return;
  const now = performance.now();
  const dt = (now - meter.t) / 1000;
  if (dt >= 0.25 && loaded >= meter.loaded) {
    const rate = (loaded - meter.loaded) / dt;
    meter.rate = meter.rate == null ? rate : 0.7 * meter.rate + 0.3 * rate;
  }
  if (dt >= 0.25 || loaded < meter.loaded) { meter.t = now; meter.loaded = loaded; }
  const parts = [`${formatBytes(meter.acked)} of ${formatBytes(total)} received`];
  if (meter.rate != null && meter.rate > 0) {
    parts.push(`${formatBytes(meter.rate)}/s`);
    parts.push(`${formatDuration((total - meter.acked) / meter.rate)} left`);
  }
  view.stage('send', 'active', parts.join(' · '));
}

// --- pause and resume ---------------------------------------------------------------------------------------------
function pause() {
  if (!can(page.state, 'PAUSE') || !page.attempt?.uploadUrl) return;
  go('PAUSE');
  page.controller?.abort(); // the server keeps every PATCH it answered; the one in flight is sent again
  view.setPauseMode('resume');
  view.stage('send', 'active', `Paused at ${formatBytes(page.acked)}`);
  view.note('Paused. FocalPoint keeps what it has received; resume to send the rest.');
}

function unpause() {
  if (!can(page.state, 'UNPAUSE') || !page.file) return;
  view.note(null);
  send(page.file, 'UNPAUSE');
}

/** @param {string | number} reason @param {number} delayMs */
function sendRetry(reason, delayMs) {
  const secs = Math.max(1, Math.round(delayMs / 1000));
  /** @type {Record<string, string>} */
  const whys = {
    network: 'The connection dropped',
    429: 'FocalPoint is busy',
    409: 'FocalPoint is still receiving an earlier try of this upload',
    in_progress: 'FocalPoint is still receiving an earlier try of this upload',
    503: 'FocalPoint is briefly unavailable',
  };
  const why = whys[String(reason)] ?? 'FocalPoint could not answer';
  view.note(`${why}; trying again in ${secs} s (the same upload, never a duplicate).`);
}

// --- tracking the job on the server ---------------------------------------------------------------------------------
/** @param {StatusDoc} doc */
function showDoc(doc) {
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
function finish(outcome) {
  poller.stop();
  page.controller = null;
  clearAttempt();
  view.result(outcome.kind, outcome.title, outcome.text, { uri: outcome.uri, advice: outcome.advice });
  page.release?.();
  page.release = null;
  go('FINISH');
}

// --- cancel ---------------------------------------------------------------------------------------------------------
async function cancel() {
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

// --- resume after a reload ------------------------------------------------------------------------------------------
async function checkSaved() {
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
async function repick(file) {
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

async function resumeYes() {
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
  go('TRACK');
  poller.start(jobId);
}

function resumeNo() {
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

/** Another tab holds the upload lock: say so until it lets go, then `then`. @param {() => void} [then] */
function otherTab(then) {
  page.elsewhere = true;
  view.showElsewhere(true);
  render();
  whenFree(() => {
    page.elsewhere = false;
    view.showElsewhere(false);
    render();
    then?.();
  });
}

function again() {
  if (!can(page.state, 'AGAIN')) return;
  page.attempt = null;
  page.processingSince = null;
  page.acked = 0;
  view.hideProgress();
  view.showPicker(true);
  go('AGAIN');
  choose(page.file); // the same file stays chosen: upload it again with one click (a new attempt)
  view.focusPicker();
}

// --- start-up ------------------------------------------------------------------------------------------------------
async function init() {
  setAuthToken(pageToken());
  view.exposeChunks(page.chunks); // what each PATCH did, for the tests and for support
  view.wire({
    choose, start, cancel, again, resumeYes, resumeNo, repick,
    pauseOrResume: () => (can(page.state, 'UNPAUSE') ? unpause() : pause()),
    canDrop: () => can(page.state, 'CHOOSE'),
    leavingLosesWork: () => can(page.state, 'PAUSE'), // sending: leaving now would stop it
    wake: () => poller.pokeNow(),
  });
  render();
  try {
    const config = await getConfig();
    page.config = config;
    view.setLimits(`Videos up to ${formatBytes(config.maxUploadBytes)}.`);
    view.setEmulated(config.geminiEmulated === true);
    view.setAccept(config.allowedMediaTypes);
  } catch {
    view.setLimits('');
    view.formError('The upload limits could not be loaded; reload the page to try again.');
  }
  if (page.file) choose(page.file);
  await checkSaved();
  view.ready();
}

init();
