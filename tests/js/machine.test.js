// @ts-check
// machine.js: the page's transition table. Named paths, illegal moves, and random walks over every event.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { EVENTS, IllegalMove, STATES, TABLE, advance, can } from '../../static/machine.js';

/** @typedef {import('../../static/machine.js').PageState} PageState */
/** @typedef {import('../../static/machine.js').PageEvent} PageEvent */

/** @param {PageState} from @param {PageEvent[]} events */
const walk = (from, events) => events.reduce(advance, from);

/** A small seeded generator (mulberry32): a failing walk can be run again from its seed. @param {number} seed */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the page machine', () => {
  it('follows the paths the page takes', () => {
    assert.equal(walk('IDLE', ['CHOOSE', 'START', 'SEND', 'PROGRESS', 'SENT', 'DOC', 'FINISH', 'AGAIN']), 'IDLE');
    assert.equal(walk('IDLE', ['START', 'SEND', 'PAUSE', 'UNPAUSE', 'PAUSE', 'CANCEL', 'FINISH']), 'DONE');
    assert.equal(walk('IDLE', ['START', 'LOCK_REFUSED']), 'IDLE');
    assert.equal(walk('IDLE', ['OFFER', 'RESUME', 'SEND', 'SENT']), 'TRACKING');
    assert.equal(walk('IDLE', ['OFFER', 'RESUME', 'TRACK', 'CANCEL', 'TRACK', 'FINISH']), 'DONE');
    assert.equal(walk('IDLE', ['OFFER', 'RESUME', 'FORGET']), 'IDLE');
    assert.equal(walk('IDLE', ['OFFER', 'DISMISS']), 'IDLE');
  });

  it('refuses what the page must never do', () => {
    for (const [state, event] of /** @type {[PageState, PageEvent][]} */ ([
      ['SENDING', 'START'], ['TRACKING', 'START'], ['DONE', 'START'], ['STARTING', 'START'], // one upload at a time
      ['SENDING', 'CHOOSE'], ['PAUSED', 'CHOOSE'], // the file cannot change under an upload
      ['PAUSED', 'PROGRESS'], ['CANCELLING', 'PROGRESS'], ['TRACKING', 'SENT'], // late answers of a stopped send
      ['DONE', 'DOC'], ['CANCELLING', 'DOC'], ['IDLE', 'DOC'], // late status documents
      ['DONE', 'CANCEL'], ['IDLE', 'CANCEL'], ['CANCELLING', 'CANCEL'],
      ['RESUMING', 'DISMISS'], ['RESUMING', 'RESUME'], // the resume offer is answered once
    ])) {
      assert.equal(can(state, event), false, `${state} ${event}`);
      assert.throws(() => advance(state, event), (err) => err instanceof IllegalMove
        && err.state === state && err.event === event);
    }
  });

  it('can and advance agree on every pair, and the table names only its own states', () => {
    for (const state of STATES) {
      for (const event of EVENTS) {
        if (can(state, event)) assert.ok(STATES.includes(advance(state, event)));
        else assert.throws(() => advance(state, event), IllegalMove);
      }
    }
    assert.throws(() => advance(/** @type {PageState} */ ('NOPE'), 'START'), IllegalMove);
    assert.equal(can('IDLE', /** @type {PageEvent} */ ('toString')), false, 'no inherited moves');
  });

  it('every state is reachable from IDLE, and IDLE from every state', () => {
    /** @param {PageState} from */
    const reach = (from) => {
      const seen = new Set([from]);
      const todo = [from];
      while (todo.length) {
        const s = /** @type {PageState} */ (todo.pop());
        for (const next of Object.values(TABLE[s])) if (!seen.has(next)) { seen.add(next); todo.push(next); }
      }
      return seen;
    };
    assert.deepEqual([...reach('IDLE')].sort(), [...STATES].sort());
    for (const state of STATES) assert.ok(reach(state).has('IDLE'), `${state} is a dead end`);
  });

  it('random walks: illegal events throw and change nothing; the invariants hold on every legal move', () => {
    const seeds = 300;
    const steps = 60;
    let moves = 0;
    for (let seed = 1; seed <= seeds; seed += 1) {
      const random = prng(seed);
      /** @type {PageState} */
      let state = 'IDLE';
      for (let i = 0; i < steps; i += 1) {
        // Mostly a legal event (so walks go deep), sometimes any event at all (so illegal ones are tried).
        const legal = /** @type {PageEvent[]} */ (Object.keys(TABLE[state]));
        const pool = random() < 0.7 ? legal : EVENTS;
        const event = pool[Math.floor(random() * pool.length)];
        /** @type {string} */
        const where = `seed ${seed}, step ${i}: ${event} in ${state}`;
        if (!can(state, event)) {
          assert.throws(() => advance(state, event), IllegalMove, where);
          continue;
        }
        const next = advance(state, event);
        moves += 1;
        // Only IDLE starts an upload; a send begins only from starting, paused or resuming.
        if (next === 'STARTING') assert.equal(state, 'IDLE', where);
        if (next === 'SENDING' && state !== 'SENDING') assert.ok(['STARTING', 'PAUSED', 'RESUMING'].includes(state), where);
        // A finished page only goes back to IDLE, by AGAIN; PROGRESS and DOC never change the state.
        if (state === 'DONE') assert.deepEqual([event, next], ['AGAIN', 'IDLE'], where);
        if (event === 'PROGRESS' || event === 'DOC' || event === 'CHOOSE') assert.equal(next, state, where);
        // Tracking is reached only once a job exists: after a send, a resume, or a cancel that found it ready.
        if (next === 'TRACKING' && state !== 'TRACKING') assert.ok(['SENDING', 'RESUMING', 'CANCELLING'].includes(state), where);
        state = next;
      }
    }
    assert.ok(moves > seeds * steps * 0.6, `too few legal moves (${moves}) to mean anything`);
  });
});
