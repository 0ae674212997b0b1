// HTTP with the front door: status, cancel, config (the upload itself: resumable.js).
// Every request carries the page's bearer token when it has one (see authToken).

export class UploadError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'UploadError';
    this.status = status;
    this.code = code;
  }
}

/** Retry-After (seconds or an HTTP date) in ms, or `fallback` when absent or unreadable. */
export function retryAfterMs(value, fallback) {
  if (!value) return fallback;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? fallback : Math.max(0, at - Date.now());
}

/** @type {string | null} */
let token = null;

/**
 * The bearer token this page sends, or '' when it has none (the service then runs without auth). FocalPoint's
 * app puts it in `<meta name="focalpoint-upload-token" content="…">`; for trying the service out it may instead
 * come in the URL fragment, `#token=…` (a fragment never leaves the browser). Read once.
 * @returns {string}
 */
export function authToken() {
  if (token === null) {
    const meta = document.querySelector('meta[name="focalpoint-upload-token"]');
    const fromMeta = (meta && meta.getAttribute('content')) || '';
    const fromHash = new URLSearchParams(location.hash.slice(1)).get('token') || '';
    token = (fromMeta || fromHash).trim();
  }
  return token;
}

/**
 * `headers` plus the Authorization header when the page has a token.
 * @param {Record<string, string>} [headers]
 * @returns {Record<string, string>}
 */
export function withAuth(headers = {}) {
  const t = authToken();
  return t ? { ...headers, Authorization: `Bearer ${t}` } : headers;
}

function errorOf(status, body, fallback) {
  const e = body?.error ?? {};
  return new UploadError(status, e.code ?? `http_${status}`, e.message || fallback);
}

export async function getConfig() {
  const res = await fetch('/api/upload/config', { cache: 'no-store', headers: withAuth() });
  if (!res.ok) throw errorOf(res.status, await res.json().catch(() => null), 'The upload limits could not be read.');
  return res.json();
}

/**
 * One status request. `who` is {jobId} or {attemptId}; `etag` is sent as If-None-Match.
 * Resolves {status, doc, etag, retryAfterMs}; status 0 means the network failed. Never rejects.
 */
export async function fetchStatus(who, etag) {
  const query = who.jobId ? `jobId=${encodeURIComponent(who.jobId)}` : `attemptId=${encodeURIComponent(who.attemptId)}`;
  const headers = withAuth(etag ? { 'If-None-Match': etag } : {});
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
    const res = await fetch(`/api/upload/${encodeURIComponent(jobId)}`,
      { method: 'DELETE', cache: 'no-store', headers: withAuth() });
    const body = await res.json().catch(() => null);
    return { status: res.status, doc: res.ok ? body : null, error: res.ok ? null : body?.error ?? null };
  } catch {
    return { status: 0, doc: null, error: null };
  }
}
