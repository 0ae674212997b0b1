// @ts-check
// The current upload attempt in localStorage, so a refreshed page can offer to resume it.

/**
 * The stored record of the current attempt. jobId and uploadUrl are null until the server has answered the
 * creation; headSha256 is the sha256 of the file's first MiB (with name, size and lastModified, how a file
 * picked again after a reload is known to be the same).
 * @typedef {{
 *   attemptId: string, jobId: string | null, uploadUrl: string | null, fileName: string, fileSize: number,
 *   lastModified: number, mediaType: string, headSha256: string | null, startedAt: number,
 * }} Attempt
 */

const KEY = 'focalpoint.upload.current';

/** @returns {Attempt | null} */
export function loadAttempt() {
  try {
    const rec = JSON.parse(localStorage.getItem(KEY) ?? 'null');
    return rec && typeof rec.attemptId === 'string' ? rec : null;
  } catch {
    return null;
  }
}

/** @param {Attempt} rec */
export function saveAttempt(rec) {
  try {
    localStorage.setItem(KEY, JSON.stringify(rec));
  } catch {
    // Storage full or disabled: the upload still works, it just cannot be resumed after a refresh.
  }
}

export function clearAttempt() {
  try {
    localStorage.removeItem(KEY);
  } catch {
    // nothing to do
  }
}

/** A fresh attempt id: one per user action. @returns {string} */
export function newAttemptId() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // Not a secure context (plain http on a LAN address): same shape from getRandomValues.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
