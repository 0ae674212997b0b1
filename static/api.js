// HTTP with the front door: the upload POST (XHR, retried on the same attemptId), status, cancel, config.

export class UploadError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'UploadError';
    this.status = status;
    this.code = code;
  }
}

/**
 * `headers` plus whatever every request to FocalPoint must carry: the one place to add an Authorization header
 * (main's api.js adds the page's bearer token here).
 * @param {Record<string, string>} [headers]
 * @returns {Record<string, string>}
 */
export function withAuth(headers = {}) {
  return { ...headers };
}

const NETWORK_RETRIES = 4; // re-sends after a network error (5 tries in all)
const WAIT_RETRIES = 8; // re-sends after 409/429/503 answered with Retry-After

export function fullJitter(attempt, baseMs, capMs) {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

/** Retry-After (seconds or an HTTP date) in ms, or `fallback` when absent or unreadable. */
export function retryAfterMs(value, fallback) {
  if (!value) return fallback;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? fallback : Math.max(0, at - Date.now());
}

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(abortError()); return; }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); reject(abortError()); }, { once: true });
  });
}

function abortError() {
  return new DOMException('The upload was cancelled.', 'AbortError');
}

function parseJson(text) {
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

function errorOf(status, body, fallback) {
  const e = body?.error ?? {};
  return new UploadError(status, e.code ?? `http_${status}`, e.message || fallback);
}

export async function getConfig() {
  const res = await fetch('/api/upload/config', { cache: 'no-store' });
  if (!res.ok) throw errorOf(res.status, await res.json().catch(() => null), 'The upload limits could not be read.');
  return res.json();
}

/**
 * One status request. `who` is {jobId} or {attemptId}; `etag` is sent as If-None-Match.
 * Resolves {status, doc, etag, retryAfterMs}; status 0 means the network failed. Never rejects.
 */
export async function fetchStatus(who, etag) {
  const query = who.jobId ? `jobId=${encodeURIComponent(who.jobId)}` : `attemptId=${encodeURIComponent(who.attemptId)}`;
  const headers = etag ? { 'If-None-Match': etag } : {};
  try {
    const res = await fetch(`/api/upload/status?${query}`, { cache: 'no-store', headers });
    const body = res.status === 304 ? null : await res.json().catch(() => null);
    return {
      status: res.status,
      doc: res.status === 200 ? body : null,
      error: res.ok ? null : body?.error ?? null,
      etag: res.headers.get('ETag'),
      retryAfterMs: retryAfterMs(res.headers.get('Retry-After'), null),
    };
  } catch {
    return { status: 0, doc: null, error: null, etag: null, retryAfterMs: null };
  }
}

/** DELETE the job. Resolves {status, doc, error}; status 0 means the network failed. */
export async function cancelJob(jobId) {
  try {
    const res = await fetch(`/api/upload/${encodeURIComponent(jobId)}`, { method: 'DELETE', cache: 'no-store' });
    const body = await res.json().catch(() => null);
    return { status: res.status, doc: res.ok ? body : null, error: res.ok ? null : body?.error ?? null };
  } catch {
    return { status: 0, doc: null, error: null };
  }
}

/** One POST of the whole file as the raw body. Resolves with the answer; rejects on network error or abort. */
function sendOnce(file, mediaType, attemptId, onProgress, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) { reject(abortError()); return; }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/upload');
    xhr.setRequestHeader('Content-Type', mediaType);
    xhr.setRequestHeader('X-File-Name', encodeURIComponent(file.name));
    xhr.setRequestHeader('X-Attempt-Id', attemptId);
    xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.upload.addEventListener('load', () => onProgress(file.size, file.size));
    xhr.addEventListener('load', () => resolve({
      status: xhr.status,
      header: (name) => xhr.getResponseHeader(name),
      body: parseJson(xhr.responseText),
    }));
    xhr.addEventListener('error', () => reject(new UploadError(0, 'network', 'The connection to FocalPoint failed.')));
    xhr.addEventListener('timeout', () => reject(new UploadError(0, 'network', 'The connection to FocalPoint timed out.')));
    xhr.addEventListener('abort', () => reject(abortError()));
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}

/**
 * Before sending the same attempt again, ask whether the server already has it: a re-send of a file that
 * arrived would only be drained and replayed. Resolves a receipt-like doc, 'resend', or 'wait' (still streaming).
 */
async function probe(attemptId) {
  const r = await fetchStatus({ attemptId });
  if (r.status !== 200 || !r.doc) return 'resend';
  if (r.doc.state === 'SPOOLING') return 'wait';
  return r.doc;
}

/**
 * Send `file` as attempt `attemptId` until the server has it. Resolves {receipt, replayed}; rejects with
 * UploadError (refused, or retries exhausted) or an AbortError (cancelled through `signal`).
 *
 * hooks.onProgress(loaded, total) for upload progress; hooks.onRetry({reason, delayMs, attempt}) before a wait.
 */
export async function uploadFile(file, mediaType, attemptId, { signal, onProgress, onRetry }) {
  let networkFailures = 0;
  let waits = 0;
  let resendAfterProbe = false;
  for (let attempt = 1; ; attempt += 1) {
    if (resendAfterProbe) {
      const known = await probe(attemptId);
      if (signal.aborted) throw abortError();
      if (known === 'wait' && waits < WAIT_RETRIES) {
        waits += 1;
        const delayMs = 2000 + fullJitter(waits, 500, 5000);
        onRetry({ reason: 'in_progress', delayMs, attempt });
        await sleep(delayMs, signal);
        continue;
      }
      if (typeof known === 'object') return { receipt: known, replayed: true };
    }
    let res;
    try {
      res = await sendOnce(file, mediaType, attemptId, onProgress, signal);
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      networkFailures += 1;
      if (networkFailures > NETWORK_RETRIES) {
        throw new UploadError(0, 'network', 'The connection to FocalPoint kept failing.');
      }
      const delayMs = fullJitter(networkFailures, 1000, 30000);
      onRetry({ reason: 'network', delayMs, attempt });
      await sleep(delayMs, signal);
      resendAfterProbe = true;
      continue;
    }
    if (res.status === 202) return { receipt: res.body, replayed: false };
    if (res.status === 200) {
      // Idempotent-Replayed: true: this attempt's job already exists; it is ours.
      return { receipt: res.body, replayed: res.header('Idempotent-Replayed') === 'true' };
    }
    const code = res.body?.error?.code;
    const waitable = [409, 429, 503].includes(res.status) && code !== 'job_cancelled';
    const gateway = [502, 504].includes(res.status);
    if ((waitable || gateway) && waits < WAIT_RETRIES) {
      waits += 1;
      const delayMs = retryAfterMs(res.header('Retry-After'), null) ?? fullJitter(waits, 1000, 30000);
      onRetry({ reason: res.status, delayMs, attempt, message: res.body?.error?.message });
      await sleep(delayMs, signal);
      resendAfterProbe = res.status === 409 || gateway;
      continue;
    }
    throw errorOf(res.status, res.body, `FocalPoint answered ${res.status}.`);
  }
}
