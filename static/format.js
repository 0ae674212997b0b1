// @ts-check
// Sizes and durations in words, as the page shows them. Pure: no DOM, so checks.js and the unit tests use them.

/**
 * Powers of 1024 with the familiar short names, as most file managers show sizes; '?' when unknown.
 * @param {number | null | undefined} n
 * @returns {string}
 */
export function formatBytes(n) {
  if (n == null || !Number.isFinite(n)) return '?';
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${v} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * '42 s', '3 min 05 s', '1 h 02 min'; '' for a negative or unknown duration.
 * @param {number} seconds
 * @returns {string}
 */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/**
 * An ISO time from the server in the reader's local form, or '' when absent or unreadable.
 * @param {string | null | undefined} iso
 * @returns {string}
 */
export function formatWhen(iso) {
  const at = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(at) ? '' : new Date(at).toLocaleString();
}
