// @ts-check
// poller.js on a fake clock and a scripted status call: when it polls, what it hands on, when it stops.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { CAP_MS, MIN_MS, Poller, pollDelay } from '../../static/poller.js';
import { UploadError } from '../../static/api.js';
import { FakeClock, settle } from './fakes.js';

/** @typedef {import('../../static/api.js').StatusDoc} StatusDoc */

/** @param {string} state @param {Partial<StatusDoc>} [more] @returns {StatusDoc} */
const doc = (state, more = {}) => ({ jobId: 'j1', attemptId: 'a1', state, progress: null, pollAfterMs: 1000, ...more });

/**
 * A poller whose status call answers from `script` (a function of the call number), on a fake clock.
 * @param {(n: number, etag: string | null) => Promise<{doc: StatusDoc | null, etag: string | null}>} script
 * @param {{hidden?: () => boolean}} [opts]
 */
function make(script, opts = {}) {
  const clock = new FakeClock();
  /** @type {{at: number, etag: string | null, jobId: string}[]} */
  const calls = [];
  /** @type {StatusDoc[]} */
  const docs = [];
  /** @type {[string, number | null][]} */
  const troubles = [];
  let gone = 0;
  const poller = new Poller({
    fetchStatus: (who, etag) => { calls.push({ at: clock.now(), etag, jobId: who.jobId }); return script(calls.length, etag); },
    onDoc: (d) => docs.push(d),
    onGone: () => { gone += 1; },
    onTrouble: (kind, ms) => troubles.push([kind, ms]),
    isHidden: opts.hidden,
    clock,
  });
  return { poller, clock, calls, docs, troubles, gone: () => gone };
}

const ok = (/** @type {StatusDoc} */ d, etag = '"e"') => Promise.resolve({ doc: d, etag });

describe('Poller', () => {
  it('polls at once, then every pollAfterMs (plus jitter), and stops at a final state', async () => {
    const states = ['SPOOLED', 'UPLOADING', 'PROCESSING', 'ACTIVE'];
    const t = make((n) => ok(doc(states[n - 1])));
    t.poller.start('j1');
    await t.clock.advance(0);
    assert.equal(t.calls.length, 1);
    await t.clock.advance(999);
    assert.equal(t.calls.length, 1, 'never faster than 1 s');
    await t.clock.advance(1);
    assert.equal(t.calls.length, 2);
    await t.clock.advance(10_000);
    assert.deepEqual(t.docs.map((d) => d.state), states);
    assert.equal(t.clock.nextAt(), null, 'nothing scheduled after ACTIVE');
    assert.equal(t.poller.running, false);
  });

  it('sends the last ETag and passes nothing on for a 304', async () => {
    const t = make((n) => (n === 1 ? ok(doc('UPLOADING'), '"v1"') : Promise.resolve({ doc: null, etag: '"v1"' })));
    t.poller.start('j1');
    await t.clock.advance(2500);
    assert.deepEqual(t.calls.map((c) => c.etag), [null, '"v1"', '"v1"']);
    assert.equal(t.docs.length, 1);
  });

  it('on 429 waits what Retry-After asks, and a poke does not jump it', async () => {
    const t = make((n) => (n === 1 ? Promise.reject(new UploadError(429, 'rate_limited', 'busy', 5000))
      : ok(doc('UPLOADING'))));
    t.poller.start('j1');
    await t.clock.advance(0);
    assert.deepEqual(t.troubles, [['busy', 5000]]);
    t.poller.pokeNow();
    await t.clock.advance(4999);
    assert.equal(t.calls.length, 1);
    await t.clock.advance(1);
    assert.equal(t.calls.length, 2);
    assert.equal(t.docs.length, 1);
  });

  it('a network failure is trouble, and polling carries on', async () => {
    const t = make((n) => (n === 1 ? Promise.reject(new UploadError(0, 'network', 'offline')) : ok(doc('UPLOADING'))));
    t.poller.start('j1');
    await t.clock.advance(1000);
    assert.deepEqual(t.troubles, [['offline', null]]);
    assert.equal(t.docs.length, 1);
  });

  it('404 says the job is gone and stops', async () => {
    const t = make(() => Promise.reject(new UploadError(404, 'not_found', 'gone')));
    t.poller.start('j1');
    await t.clock.advance(60_000);
    assert.equal(t.calls.length, 1);
    assert.equal(t.gone(), 1);
  });

  it('does not poll while hidden; pokeNow polls at once when shown again', async () => {
    let hidden = false;
    const t = make(() => ok(doc('UPLOADING')), { hidden: () => hidden });
    t.poller.start('j1');
    await t.clock.advance(0);
    hidden = true;
    await t.clock.advance(30_000);
    assert.equal(t.calls.length, 1);
    hidden = false;
    t.poller.pokeNow();
    await t.clock.advance(0);
    assert.equal(t.calls.length, 2);
  });

  it('an answer that arrives after stop, or after a newer start, is ignored', async () => {
    /** @type {((v: {doc: StatusDoc, etag: string}) => void)[]} */
    const pending = [];
    const t = make(() => new Promise((resolve) => pending.push(resolve)));
    t.poller.start('j1');
    await t.clock.advance(0);
    t.poller.start('j2'); // e.g. a second track() while a poll of j1 was in flight
    await t.clock.advance(0);
    assert.deepEqual(t.calls.map((c) => c.jobId), ['j1', 'j2'], 'the new job is polled at once');
    pending[0]({ doc: doc('FAILED', { jobId: 'j1' }), etag: '"old"' });
    await settle();
    assert.equal(t.docs.length, 0);
    pending[1]({ doc: doc('UPLOADING', { jobId: 'j2' }), etag: '"new"' });
    await settle();
    assert.deepEqual(t.docs.map((d) => d.jobId), ['j2']);
    t.poller.stop();
    await t.clock.advance(60_000);
    assert.equal(t.calls.length, 2);
  });

  it('one poll at a time: a poke while a poll is in flight does not start another', async () => {
    /** @type {(() => void)[]} */
    const pending = [];
    const t = make(() => new Promise((resolve) => { pending.push(() => resolve({ doc: doc('UPLOADING'), etag: null })); }));
    t.poller.start('j1');
    await t.clock.advance(0);
    t.poller.pokeNow();
    await t.clock.advance(5000);
    assert.equal(t.calls.length, 1);
    pending[0]();
    await settle();
    await t.clock.advance(1000);
    assert.equal(t.calls.length, 2);
  });
});

describe('pollDelay', () => {
  it('is 1-1.4 s while the job moves', () => {
    assert.equal(pollDelay({ quietMs: 0, random: () => 0 }), MIN_MS);
    assert.equal(pollDelay({ quietMs: 0, random: () => 1 }), 1400);
    assert.equal(pollDelay({ hintMs: 5000, quietMs: 0, random: () => 0 }), 5000);
    assert.equal(pollDelay({ hintMs: 10, quietMs: 0, random: () => 0 }), MIN_MS, 'never below the minimum');
  });

  it('grows with the quiet time up to the cap, and honours a Retry-After wait', () => {
    assert.equal(pollDelay({ quietMs: 60_000, random: () => 0 }), MIN_MS);
    assert.equal(pollDelay({ quietMs: 100_000, random: () => 1 }), 10_000);
    assert.equal(pollDelay({ quietMs: 3_600_000, random: () => 1 }), CAP_MS);
    assert.ok(pollDelay({ quietMs: 3_600_000, random: () => 0 }) < CAP_MS);
    assert.equal(pollDelay({ quietMs: 0, waitMs: 7000, random: () => 0 }), 7000);
  });
});
