// @ts-check
// outcome.js and stages.js: what a final (or moving) status document shows, EXPIRED and DELETED included.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { endedText, outcomeOf } from '../../static/outcome.js';
import { renderStages } from '../../static/stages.js';

/** @typedef {import('../../static/api.js').StatusDoc} StatusDoc */
/** @param {string} state @param {Partial<StatusDoc>} [more] @returns {StatusDoc} */
const doc = (state, more = {}) => ({ jobId: 'j1', attemptId: 'a1', state,
  progress: { bytesReceived: 10, bytesTotal: 10, bytesUploaded: 10 }, ...more });

/** A view that records the stages' last status and bar value. */
function recorder() {
  /** @type {Record<string, string>} */
  const status = {};
  /** @type {Record<string, number | null>} */
  const bars = {};
  return {
    status, bars,
    /** @param {string} s @param {string} st */
    stage: (s, st) => { status[s] = st; },
    /** @param {string} s @param {number | null} pct */
    bar: (s, pct) => { bars[s] = pct; },
  };
}

describe('outcomeOf', () => {
  it('is null while the job moves', () => {
    for (const s of ['SPOOLING', 'SPOOLED', 'UPLOADING', 'PROCESSING']) assert.equal(outcomeOf(doc(s)), null);
  });

  it('ready with the file URI; failed with the server message and advice', () => {
    const ready = outcomeOf(doc('ACTIVE', { fileUri: 'https://x/files/1', expiresAt: '2030-01-03T00:00:00Z' }));
    assert.equal(ready?.kind, 'ok');
    assert.equal(ready?.uri, 'https://x/files/1');
    assert.match(ready?.advice ?? '', /keeps the file until/);
    const failed = outcomeOf(doc('FAILED', { error: { code: 'too_large', message: 'Too big.', retryable: false } }));
    assert.deepEqual([failed?.kind, failed?.title, failed?.text], ['bad', 'Failed', 'Too big.']);
    assert.match(failed?.advice ?? '', /Shorten/);
  });

  it('EXPIRED and DELETED are neither ready nor failed: gone, with when, and no URI', () => {
    const expired = outcomeOf(doc('EXPIRED', { expiredAt: '2026-12-02T10:00:00.000Z', fileUri: null }));
    assert.deepEqual([expired?.kind, expired?.title, expired?.uri], ['gone', 'Expired', null]);
    assert.match(expired?.text ?? '', /no longer keeps it \(it expired .*2026.*\)/);
    const deleted = outcomeOf(doc('DELETED', { deletedAt: '2026-12-02T10:00:00.000Z' }));
    assert.deepEqual([deleted?.kind, deleted?.title], ['gone', 'Deleted']);
    assert.match(deleted?.text ?? '', /was deleted \(.*2026.*\)/);
    assert.doesNotMatch(outcomeOf(doc('DELETED'))?.text ?? '', /\(/, 'no empty time when the server gave none');
  });

  it('endedText says how the last upload ended', () => {
    assert.equal(endedText('a.mp4', doc('ACTIVE')), 'Your last upload, “a.mp4”, ended: ready.');
    assert.match(endedText('a.mp4', doc('EXPIRED', { expiredAt: '2026-12-02T10:00:00Z' })),
      /ended: expired\. .*no longer keeps the file \(since .*2026.*\)\.$/);
    assert.match(endedText(null, doc('DELETED')), /^Your last upload ended: deleted\. /);
  });
});

describe('renderStages', () => {
  it('never shows Gemini at 100 % before PROCESSING', () => {
    const v = recorder();
    renderStages(v, doc('UPLOADING'), { fileSize: 10 });
    assert.deepEqual([v.status.gemini, v.bars.gemini], ['active', 99]);
  });

  it('a job waiting for Gemini storage says so', () => {
    /** @type {string[]} */
    const details = [];
    renderStages({ stage: (_s, _st, d) => { if (d) details.push(d); }, bar: () => {} },
      doc('SPOOLED', { waiting: 'gemini_storage' }), {});
    assert.ok(details.some((d) => /space at Gemini/.test(d)), details.join(' | '));
  });

  it('EXPIRED and DELETED show every stage done', () => {
    for (const s of ['EXPIRED', 'DELETED']) {
      const v = recorder();
      renderStages(v, doc(s), { fileSize: 10 });
      assert.deepEqual(v.status, { send: 'done', gemini: 'done', process: 'done' }, s);
      assert.deepEqual(v.bars, { send: 100, gemini: 100, process: 100 }, s);
    }
  });
});
