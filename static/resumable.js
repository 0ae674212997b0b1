// @ts-check
// A small tus 1.0.0 client for the page: the file goes to /api/uploads in PATCHes sized to the measured speed
// (each ~5-10 s, well inside a 20 s proxy timeout), each with Upload-Checksum: sha256 from WebCrypto. A PATCH
// that fails (408, a reset, 5xx) costs only itself: HEAD the offset the server has and carry on from there.
// Ours rather than tus-js-client: that one has no adaptive chunk size and no checksums, and serving it needs a
// bundle build (see the README).

import { UploadError, errorOf, retryAfterMs, withAuth } from './api.js';

export const MIB = 1024 * 1024;
const TUS = { 'Tus-Resumable': '1.0.0' };
const TARGET_S = 7.5; // aim at the middle of the 5-10 s per PATCH
const MAX_GROWTH = 4; // a chunk is at most 4x the last one: one fast burst must not make a 60 s PATCH
const FAILURES_WITHOUT_PROGRESS = 8; // then give up: the server keeps what it has; the user can resume later

/**
 * @typedef {{status: number, header: (name: string) => string | null, body: any}} Answer
 * @typedef {{offset: number, total: number}} Ack
 * @typedef {{
 *   mediaType: string, attemptId: string, uploadUrl?: string | null, signal: AbortSignal,
 *   onCreated?: (url: string) => void, onAck?: (ack: Ack) => void,
 *   onSending?: (loaded: number, chunk: number) => void,
 *   onChunk?: (info: {offset: number, size: number, seconds: number, status: number}) => void,
 *   onRetry?: (info: {reason: string | number, delayMs: number}) => void,
 *   initialChunk?: number,
 * }} Options
 */

/**
 * Full jitter: a random wait in [0, min(cap, base * 2^attempt)).
 * @param {number} attempt @param {number} baseMs @param {number} capMs
 */
export function fullJitter(attempt, baseMs, capMs) {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

/**
 * The next chunk size: the measured rate times TARGET_S, at least 1 MiB, at most `max` and MAX_GROWTH times
 * the previous chunk, rounded down to 256 KiB.
 * @param {number} previous @param {number} bytesPerS @param {number} max
 */
export function nextChunkSize(previous, bytesPerS, max) {
  const wanted = Math.min(bytesPerS * TARGET_S, previous * MAX_GROWTH, max);
  const rounded = Math.floor(wanted / (256 * 1024)) * 256 * 1024;
  return Math.max(Math.min(MIB, max), Math.min(rounded, max));
}

/** @param {Blob} blob */
export async function sha256Base64(blob) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
  let s = '';
  for (const b of digest) s += String.fromCharCode(b);
  return btoa(s);
}

/** @param {string} value */
function b64(value) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(value)));
}

/** @param {number} ms @param {AbortSignal} signal @returns {Promise<void>} */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason ?? abortError()); return; }
    const timer = setTimeout(() => resolve(), ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason ?? abortError()); },
      { once: true });
  });
}

function abortError() {
  return new DOMException('The upload was stopped.', 'AbortError');
}

/**
 * One request by XHR (upload progress, and a clean abort). Resolves the answer; status 0 = network failure.
 * @param {string} method @param {string} url @param {Record<string, string>} headers
 * @param {Blob | null} body @param {AbortSignal} signal @param {(loaded: number) => void} [onSent]
 * @returns {Promise<Answer>}
 */
function request(method, url, headers, body, signal, onSent) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason ?? abortError()); return; }
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(withAuth({ ...TUS, ...headers }))) xhr.setRequestHeader(k, v);
    if (onSent) xhr.upload.addEventListener('progress', (e) => onSent(e.loaded));
    const body0 = () => { try { return xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { return null; } };
    xhr.addEventListener('load', () => resolve({ status: xhr.status, header: (n) => xhr.getResponseHeader(n), body: body0() }));
    // No 'timeout' listener: xhr.timeout is never set, so that event cannot fire. A PATCH stuck on a dead link
    // ends as an 'error' when the browser gives the connection up.
    xhr.addEventListener('error', () => resolve({ status: 0, header: () => null, body: null }));
    xhr.addEventListener('abort', () => reject(signal.reason ?? abortError()));
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

/**
 * Upload `file` (creating the upload, or carrying on with `opts.uploadUrl`) until the server has every byte.
 * Resolves {url, jobId}. Rejects with UploadError (api.js's one convention) when refused or when retries run
 * out, or with the signal's reason when aborted (pause or cancel: the server keeps what it acknowledged).
 * @param {File} file @param {Options} opts
 */
export async function resumableUpload(file, opts) {
  const { signal } = opts;
  let url = opts.uploadUrl ?? null;
  let max = 64 * MIB; // until the server says (Tus-Max-Chunk-Size)
  let chunk = opts.initialChunk ?? MIB;
  let failures = 0;
  /** @param {Answer} res */
  const learnMax = (res) => {
    const m = Number(res.header('Tus-Max-Chunk-Size'));
    if (Number.isFinite(m) && m > 0) max = m;
  };
  /** A failure that earns a wait and a HEAD. @param {string | number} reason @param {number | null} retryAfter */
  const backOff = async (reason, retryAfter) => {
    failures += 1;
    if (failures > FAILURES_WITHOUT_PROGRESS) {
      throw new UploadError(typeof reason === 'number' ? reason : 0, 'network',
        'The connection to FocalPoint kept failing; the upload can be resumed later.');
    }
    const delayMs = retryAfter ?? fullJitter(failures, 500, 20000);
    opts.onRetry?.({ reason, delayMs });
    await sleep(delayMs, signal);
  };

  if (!url) {
    for (;;) {
      const meta = `filename ${b64(file.name)},filetype ${b64(opts.mediaType)},attemptId ${b64(opts.attemptId)}`;
      const res = await request('POST', '/api/uploads', {
        'Upload-Length': String(file.size), 'Upload-Metadata': meta, 'X-Attempt-Id': opts.attemptId,
      }, null, signal);
      if (res.status === 201 && res.header('Location')) {
        learnMax(res);
        url = new URL(/** @type {string} */ (res.header('Location')), location.href).pathname;
        opts.onCreated?.(url);
        break;
      }
      if (retryable(res.status)) { await backOff(res.status || 'network', retryAfter(res)); continue; }
      throw refused(res);
    }
  }

  let offset = await headOffset();
  failures = 0;
  opts.onAck?.({ offset, total: file.size });
  while (offset < file.size) {
    const size = Math.min(chunk, max, file.size - offset);
    const piece = file.slice(offset, offset + size);
    const sum = await sha256Base64(piece);
    const t0 = performance.now();
    const res = await request('PATCH', url, {
      'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset),
      'Upload-Checksum': `sha256 ${sum}`, 'X-Attempt-Id': opts.attemptId,
    }, piece, signal, (loaded) => opts.onSending?.(offset + loaded, size));
    const seconds = (performance.now() - t0) / 1000;
    opts.onChunk?.({ offset, size, seconds, status: res.status });
    learnMax(res);
    if (res.status === 204 || res.status === 200) {
      const acked = Number(res.header('Upload-Offset'));
      offset = Number.isFinite(acked) ? acked : offset + size;
      failures = 0;
      chunk = nextChunkSize(size, size / Math.max(seconds, 0.05), max);
      opts.onAck?.({ offset, total: file.size });
      continue;
    }
    if (res.status === 413) { chunk = Math.max(MIB, Math.floor(size / 2)); continue; }
    if (res.status === 460 || res.status === 409 || retryable(res.status)) {
      // 460: bytes spoiled on the way (none kept); 409: our offset was stale. Either way ask the server.
      if (res.status === 0 || res.status === 408) chunk = Math.max(MIB, Math.floor(size / 2)); // too slow for the way
      await backOff(res.status || 'network', retryAfter(res));
      offset = await headOffset();
      opts.onAck?.({ offset, total: file.size });
      continue;
    }
    throw refused(res);
  }
  return { url, jobId: decodeURIComponent(url.split('/').pop() ?? '') };

  /** The server's offset, retried through network trouble. @returns {Promise<number>} */
  async function headOffset() {
    for (;;) {
      const res = await request('HEAD', /** @type {string} */ (url), {}, null, signal);
      if (res.status === 200 || res.status === 204) {
        learnMax(res);
        return Number(res.header('Upload-Offset')) || 0;
      }
      if (retryable(res.status)) { await backOff(res.status || 'network', retryAfter(res)); continue; }
      throw refused(res);
    }
  }
}

/** @param {number} status */
function retryable(status) {
  return status === 0 || status === 408 || status === 423 || status === 429 || status >= 500;
}

/** Retry-After in ms (at most a minute), or null. @param {Answer} res */
function retryAfter(res) {
  const ms = retryAfterMs(res.header('Retry-After'), null);
  return ms == null ? null : Math.min(60000, ms);
}

/** @param {Answer} res */
function refused(res) {
  if ((res.status === 404 || res.status === 410) && !res.body) { // HEAD answers carry no body
    return new UploadError(res.status, 'upload_gone', 'FocalPoint no longer has this upload (it expired or was cancelled).');
  }
  return errorOf(res.status, res.body, `FocalPoint answered ${res.status}.`, retryAfter(res));
}
