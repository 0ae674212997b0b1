// @ts-check
// HTTP with the front door: status, cancel, config (the upload itself: resumable.js).
//
// One error convention for every call here (and resumable.js): a call resolves with what it asked for, and
// rejects with an UploadError for anything else -- status 0 when the network failed, else the HTTP status with
// the server's error code and message and its Retry-After. A call given an AbortSignal rejects with the
// signal's reason when it is aborted. Every request carries the page's bearer token when it has one.

/**
 * The public status document of GET /api/upload/status (see jobs/record.py, Job.public).
 * @typedef {{
 *   jobId: string, attemptId: string | null, state: string,
 *   progress: {bytesReceived?: number | null, bytesTotal?: number | null, bytesUploaded?: number | null} | null,
 *   fileUri?: string | null, fileName?: string | null, expiresAt?: string | null,
 *   error?: {code: string, message: string, retryable: boolean} | null,
 *   retrying?: {attempts: number, lastError: string} | null, waiting?: string | null,
 *   expiredAt?: string | null, deletedAt?: string | null, updatedAt?: string, pollAfterMs?: number | null,
 * }} StatusDoc
 * @typedef {{maxUploadBytes: number, allowedMediaTypes: string[], geminiEmulated?: boolean}} UploadConfig
 * @typedef {{jobId: string} | {attemptId: string}} Who
 */

export class UploadError extends Error {
  /**
   * @param {number} status the HTTP status, 0 when the network failed
   * @param {string} code the server's error code (`http_<status>` or `network` when it gave none)
   * @param {string} message in words for the person
   * @param {number | null} [retryAfterMs] what the server's Retry-After asked for
   */
  constructor(status, code, message, retryAfterMs = null) {
    super(message);
    this.name = 'UploadError';
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Retry-After (seconds or an HTTP date) in ms, or `fallback` when absent or unreadable.
 * @param {string | null | undefined} value
 * @param {number | null} fallback
 * @param {number} [now] the clock (ms since the epoch), for an HTTP date
 * @returns {number | null}
 */
export function retryAfterMs(value, fallback, now = Date.now()) {
  if (!value) return fallback;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? fallback : Math.max(0, at - now);
}

let token = '';

/**
 * The bearer token this page sends ('' for none: the service then runs without auth). ui.js reads it from the
 * page once (pageToken) and main.js hands it over here.
 * @param {string} value
 */
export function setAuthToken(value) {
  token = value.trim();
}

/**
 * `headers` plus the Authorization header when the page has a token.
 * @param {Record<string, string>} [headers]
 * @returns {Record<string, string>}
 */
export function withAuth(headers = {}) {
  return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
}

/**
 * The UploadError for a refused answer. @param {number} status @param {any} body the parsed JSON body, if any
 * @param {string} fallback @param {number | null} [retryAfter]
 */
export function errorOf(status, body, fallback, retryAfter = null) {
  const e = body?.error ?? {};
  return new UploadError(status, e.code ?? `http_${status}`, e.message || fallback, retryAfter);
}

/**
 * fetch, with a network failure as UploadError(0) and an abort as the signal's reason.
 * @param {string} url @param {RequestInit} init
 * @returns {Promise<Response>}
 */
async function send(url, init) {
  try {
    return await fetch(url, { cache: 'no-store', ...init });
  } catch (err) {
    if (init.signal?.aborted) throw init.signal.reason ?? err;
    throw new UploadError(0, 'network', 'FocalPoint could not be reached.');
  }
}

/** @param {Response} res @returns {Promise<any>} the JSON body, or null when there is none or it is not JSON */
function bodyOf(res) {
  return res.json().catch(() => null);
}

/** @param {Response} res @param {string} fallback @returns {Promise<UploadError>} */
async function refused(res, fallback) {
  return errorOf(res.status, await bodyOf(res), fallback, retryAfterMs(res.headers.get('Retry-After'), null));
}

/**
 * The limits a page checks before sending anything (GET /api/upload/config).
 * @returns {Promise<UploadConfig>}
 */
export async function getConfig() {
  const res = await send('/api/upload/config', { headers: withAuth() });
  if (!res.ok) throw await refused(res, 'The upload limits could not be read.');
  return res.json();
}

/**
 * One status request; `etag` is sent as If-None-Match. Resolves {doc, etag}: `doc` is null when the server
 * answered 304 (nothing new since `etag`). Rejects UploadError: 404 (no such job), 429 (with retryAfterMs), 0.
 * @param {Who} who @param {string | null} [etag] @param {{signal?: AbortSignal}} [opts]
 * @returns {Promise<{doc: StatusDoc | null, etag: string | null}>}
 */
export async function fetchStatus(who, etag = null, opts = {}) {
  const query = 'jobId' in who
    ? `jobId=${encodeURIComponent(who.jobId)}` : `attemptId=${encodeURIComponent(who.attemptId)}`;
  const headers = withAuth(etag ? { 'If-None-Match': etag } : {});
  const res = await send(`/api/upload/status?${query}`, { headers, signal: opts.signal });
  // A 304 resolves here like any answer. Chromium's DevTools (and so Playwright's requestfailed) nevertheless
  // report every fetch answered 304 as net::ERR_ABORTED: that is the status poll 'aborted' once in the Vite test
  // (issue 13), not a lost request. tests/page/test_page_resilience.py pins this down.
  if (res.status === 304) return { doc: null, etag };
  if (res.status !== 200) throw await refused(res, `FocalPoint answered ${res.status}.`);
  const doc = await bodyOf(res);
  if (!doc) throw new UploadError(0, 'network', 'The status answer was cut short.');
  return { doc, etag: res.headers.get('ETag') };
}

/**
 * DELETE the job: cancels it, or deletes the Gemini file of an ACTIVE one (it becomes DELETED). Resolves the
 * job's document. Rejects UploadError: 409 `job_final` when it had ended already, 404, 0.
 * @param {string} jobId
 * @returns {Promise<StatusDoc>}
 */
export async function cancelJob(jobId) {
  const res = await send(`/api/upload/${encodeURIComponent(jobId)}`, { method: 'DELETE', headers: withAuth() });
  if (!res.ok) throw await refused(res, `FocalPoint answered ${res.status}.`);
  return res.json();
}
