// @ts-check
// Pure checks of a chosen file against the limits the server publishes, and advice for failure codes.

import { formatBytes } from './format.js';

/** @typedef {import('./api.js').UploadConfig} UploadConfig */
/** @typedef {{name: string, size: number, type: string}} FileLike a File, or what a test makes of one */

/**
 * When the browser knows no type for a file, guess from its extension (the server needs a Content-Type).
 * @type {Readonly<Record<string, string>>}
 */
export const EXTENSION_TYPES = {
  mp4: 'video/mp4', m4v: 'video/x-m4v', mov: 'video/quicktime', webm: 'video/webm', mkv: 'video/x-matroska',
  avi: 'video/x-msvideo', mpeg: 'video/mpeg', mpg: 'video/mpeg', wmv: 'video/x-ms-wmv', flv: 'video/x-flv',
  '3gp': 'video/3gpp',
};

/** The file's media type, lower case, or '' when neither the browser nor its extension tells. @param {FileLike} file */
export function mediaTypeOf(file) {
  if (file.type) return file.type.toLowerCase();
  const dot = file.name.lastIndexOf('.');
  const ext = dot < 0 ? '' : file.name.slice(dot + 1).toLowerCase();
  return Object.hasOwn(EXTENSION_TYPES, ext) ? EXTENSION_TYPES[ext] : '';
}

/**
 * Whether `type` matches one of the server's patterns (exact, `video/*` or `*\/*`).
 * @param {string} type @param {readonly string[]} patterns
 */
export function allowed(type, patterns) {
  return patterns.some((p) => p === '*/*' || p === type || (p.endsWith('/*') && type.startsWith(p.slice(0, -1))));
}

/**
 * The problem with `file` under the server's config, in words for the person, or null if it may be sent.
 * @param {FileLike} file @param {UploadConfig | null} cfg null: the config could not be loaded
 * @returns {string | null}
 */
export function checkFile(file, cfg) {
  if (!cfg) return 'The upload limits could not be loaded; reload the page to try again.';
  if (file.size === 0) return 'This file is empty. Choose the video file itself.';
  if (file.size > cfg.maxUploadBytes) {
    return `This file is ${formatBytes(file.size)}; the limit is ${formatBytes(cfg.maxUploadBytes)}. `
      + 'Shorten or compress the video, then choose it again.';
  }
  const type = mediaTypeOf(file);
  if (!type || !allowed(type, cfg.allowedMediaTypes)) {
    return `This file's type (${type || 'unknown'}) is not accepted. Choose a video `
      + `(${cfg.allowedMediaTypes.join(', ')}).`;
  }
  return null;
}

/**
 * What to do after a job failed with `code`.
 * @param {string | null | undefined} code @param {boolean | null | undefined} retryable
 * @returns {string}
 */
export function adviceFor(code, retryable) {
  /** @type {Record<string, string>} */
  const advice = {
    too_large: 'Shorten or compress the video so it fits the limit, then upload it again.',
    unsupported_media_type: 'Convert the video to a common format such as MP4, then upload it again.',
    insufficient_storage: 'FocalPoint is short of space right now. Try again in a few minutes.',
    rate_limited: 'Too many uploads at once. Wait a minute, then upload the file again.',
    client_aborted: 'The upload stopped before it was complete. Upload the file again.',
    auth_required: 'FocalPoint did not say who you are. Open this page from FocalPoint again.',
    invalid_token: 'FocalPoint did not recognise your sign-in. Open this page from FocalPoint again.',
    token_expired: 'Your sign-in has expired. Open this page from FocalPoint again, then upload the file.',
    client_too_slow: 'Your connection was too slow to finish the upload. Try again on a faster network.',
    too_many_uploads: 'You have several uploads running already. Wait for one to finish, then upload again.',
  };
  const known = code && Object.hasOwn(advice, code) ? advice[code] : undefined;
  if (known) return known;
  return retryable
    ? 'This is usually temporary. Upload the file again; if it keeps failing, contact support.'
    : 'Check that the file is a video that plays, then upload it again. If it keeps failing, contact support.';
}
