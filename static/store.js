// The current upload attempt in localStorage, so a refreshed page can offer to resume it.
// Record: {attemptId, jobId (null until the server answers), fileName, fileSize, startedAt}.

const KEY = 'focalpoint.upload.current';

export function loadAttempt() {
  try {
    const rec = JSON.parse(localStorage.getItem(KEY) ?? 'null');
    return rec && typeof rec.attemptId === 'string' ? rec : null;
  } catch {
    return null;
  }
}

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

/** A fresh attempt id: one per user action. */
export function newAttemptId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Not a secure context (plain http on a LAN address): same shape from getRandomValues.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
