// @ts-check
// checks.js: a chosen file against the server's published limits, and the advice for failure codes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { adviceFor, allowed, checkFile, mediaTypeOf } from '../../static/checks.js';

const CFG = { maxUploadBytes: 5 * 1024 * 1024, allowedMediaTypes: ['video/*', 'application/mxf'] };
/** @param {string} name @param {number} size @param {string} [type] */
const file = (name, size, type = '') => ({ name, size, type });

describe('mediaTypeOf', () => {
  it("takes the browser's type, lower case, else guesses from the extension", () => {
    assert.equal(mediaTypeOf(file('a.bin', 1, 'Video/MP4')), 'video/mp4');
    assert.equal(mediaTypeOf(file('Talk.MOV', 1)), 'video/quicktime');
    assert.equal(mediaTypeOf(file('clip.3gp', 1)), 'video/3gpp');
  });

  it('knows nothing of unknown or missing extensions, nor of Object.prototype names', () => {
    assert.equal(mediaTypeOf(file('notes.txt', 1)), '');
    assert.equal(mediaTypeOf(file('README', 1)), '');
    assert.equal(mediaTypeOf(file('x.constructor', 1)), '');
  });
});

describe('allowed', () => {
  it('matches exact types, type/* and */*', () => {
    assert.ok(allowed('video/webm', ['video/*']));
    assert.ok(allowed('application/mxf', CFG.allowedMediaTypes));
    assert.ok(allowed('text/plain', ['*/*']));
    assert.ok(!allowed('audio/mpeg', CFG.allowedMediaTypes));
    assert.ok(!allowed('videox/mp4', ['video/*']));
  });
});

describe('checkFile', () => {
  it('accepts an allowed video within the limit', () => {
    assert.equal(checkFile(file('a.mp4', 5 * 1024 * 1024, 'video/mp4'), CFG), null);
  });

  it('refuses, in words, a missing config, an empty file, a too large one and a wrong type', () => {
    assert.match(/** @type {string} */ (checkFile(file('a.mp4', 1, 'video/mp4'), null)), /could not be loaded/);
    assert.match(/** @type {string} */ (checkFile(file('a.mp4', 0, 'video/mp4'), CFG)), /empty/);
    assert.match(/** @type {string} */ (checkFile(file('a.mp4', 5 * 1024 * 1024 + 1, 'video/mp4'), CFG)),
      /the limit is 5\.0 MB/);
    assert.match(/** @type {string} */ (checkFile(file('a.zip', 10, 'application/zip'), CFG)),
      /\(application\/zip\) is not accepted/);
    assert.match(/** @type {string} */ (checkFile(file('a', 10), CFG)), /\(unknown\) is not accepted/);
  });
});

describe('adviceFor', () => {
  it('has words for known codes, and by retryable for the rest', () => {
    assert.match(adviceFor('too_large', false), /Shorten or compress/);
    assert.match(adviceFor('gemini_unavailable', true), /usually temporary/);
    assert.match(adviceFor('odd', false), /plays/);
    assert.match(adviceFor(null, undefined), /plays/);
    assert.match(adviceFor('constructor', true), /usually temporary/);
  });
});
