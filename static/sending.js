// @ts-check
// Sending the file: start an upload (lock, attempt record), send it in PATCHes through resumable.js with the
// progress shown from the server's acknowledgements, pause and resume; when every byte is in, track the job.

import { UploadError } from './api.js';
import { adviceFor } from './checks.js';
import { formatBytes, formatDuration } from './format.js';
import { acquire } from './lock.js';
import { can } from './machine.js';
import { go, otherTab, page, view } from './page.js';
import { MIB, resumableUpload, sha256Base64 } from './resumable.js';
import { newAttemptId, saveAttempt } from './store.js';
import { finish, track } from './tracking.js';

/** @typedef {import('./store.js').Attempt} Attempt */
/** @typedef {{t: number, loaded: number, rate: number | null, acked: number}} Meter */

// --- uploading --------------------------------------------------------------------------------------------------
export async function start() {
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
export function headSha256(file) {
  return sha256Base64(file.slice(0, MIB)).catch(() => null);
}

/**
 * Send (or carry on sending) `file` as page.attempt, in PATCHes; then track the job. Pause and cancel abort
 * this send's controller: from then on its answers are not ours.
 * @param {File} file @param {'SEND' | 'UNPAUSE'} event
 */
export async function send(file, event) {
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
    track(jobId, 'SENT');
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
export function pause() {
  if (!can(page.state, 'PAUSE') || !page.attempt?.uploadUrl) return;
  go('PAUSE');
  page.controller?.abort(); // the server keeps every PATCH it answered; the one in flight is sent again
  view.setPauseMode('resume');
  view.stage('send', 'active', `Paused at ${formatBytes(page.acked)}`);
  view.note('Paused. FocalPoint keeps what it has received; resume to send the rest.');
}

export function unpause() {
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
