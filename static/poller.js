// @ts-check
// Status polling of one job. While the job moves, every 1-1.4 s (the server's pollAfterMs, plus jitter), so the
// page shows a change less than 2 s after it happened. Only when nothing has changed for a long while
// (QUIET_AFTER_MS) does the gap grow, with the quiet time, up to 15 s. Honours Retry-After (429) and ETag (304);
// pauses while the tab is hidden (the page calls pokeNow when it shows again, or when the network returns).
// No DOM here: the status call, the clock and "is the tab hidden" are passed in.

/** @typedef {import('./api.js').StatusDoc} StatusDoc */
/** @typedef {import('./api.js').UploadError} UploadError */
/**
 * @typedef {(who: {jobId: string}, etag: string | null, opts: {signal?: AbortSignal}) =>
 *   Promise<{doc: StatusDoc | null, etag: string | null}>} FetchStatus
 * @typedef {{now: () => number, setTimeout: (fn: () => void, ms: number) => unknown,
 *   clearTimeout: (timer: any) => void, random: () => number}} Clock
 */

export const FINAL = new Set(['ACTIVE', 'FAILED', 'CANCELLED', 'EXPIRED', 'DELETED']);
export const MIN_MS = 1000; // never faster: the status limit allows 60 polls a minute per client
export const JITTER = 0.4; // each gap is 1.0-1.4 x the base: spreads tabs apart, keeps the lag under 2 s
export const QUIET_AFTER_MS = 60000; // nothing new for this long: start backing off
export const CAP_MS = 15000;

/** @type {Clock} */
export const REAL_CLOCK = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer),
  random: () => Math.random(),
};

/** @param {StatusDoc} doc */
function fingerprint(doc) {
  return JSON.stringify([doc.state, doc.progress, doc.error, doc.retrying, doc.fileUri, doc.waiting]);
}

/**
 * The gap before the next poll, in ms. Pure: the inputs say everything.
 * @param {{hintMs?: number|null, quietMs: number, waitMs?: number, random?: () => number}} p
 *   hintMs: the last document's pollAfterMs; quietMs: how long nothing has changed; waitMs: what a Retry-After
 *   still asks for; random: the jitter source.
 * @returns {number}
 */
export function pollDelay({ hintMs = null, quietMs, waitMs = 0, random = Math.random }) {
  const base = Math.max(MIN_MS, hintMs ?? MIN_MS);
  let delay = base * (1 + JITTER * random());
  if (quietMs > QUIET_AFTER_MS) {
    // Backing off: a gap of a tenth of the quiet time (6 s after a minute, the cap after 2.5 minutes).
    delay = Math.max(delay, Math.min(CAP_MS, quietMs / 10) * (1 - JITTER / 2 + (JITTER / 2) * random()));
  }
  return Math.max(delay, waitMs);
}

export class Poller {
  /**
   * @param {{
   *   fetchStatus: FetchStatus,
   *   onDoc: (doc: StatusDoc) => void,
   *   onGone: () => void,
   *   onTrouble: (kind: 'busy' | 'offline', retryAfterMs: number | null) => void,
   *   isHidden?: () => boolean,
   *   clock?: Clock,
   * }} deps onDoc: every new status document (a 304 brings none); onGone: the job is unknown (404), polling
   *   stops; onTrouble: a 429 ('busy', with the wait) or any other failure ('offline'), polling carries on.
   */
  constructor({ fetchStatus, onDoc, onGone, onTrouble, isHidden = () => false, clock = REAL_CLOCK }) {
    this.fetchStatus = fetchStatus;
    this.onDoc = onDoc;
    this.onGone = onGone;
    this.onTrouble = onTrouble;
    this.isHidden = isHidden;
    this.clock = clock;
    /** @type {string | null} */
    this.jobId = null;
    this.running = false;
    /** @type {unknown} */
    this.timer = null;
    /** @type {Promise<void> | null} the poll in flight, if any */
    this.inflight = null;
    /** @type {string | null} */
    this.etag = null;
    /** @type {string | null} */
    this.last = null;
    /** @type {number | null} the last document's pollAfterMs */
    this.hint = null;
    this.changedAt = 0; // clock.now() of the last poll that brought something new (or of the start)
    this.notBefore = 0; // from Retry-After
    this.generation = 0; // bumped by start and stop: a poll from an older generation is ignored
  }

  /** Poll `jobId` from now on (at once), forgetting any job polled before. @param {string} jobId */
  start(jobId) {
    this.stop();
    Object.assign(this, { jobId, running: true, etag: null, last: null, hint: null,
      changedAt: this.clock.now(), notBefore: 0 });
    this.schedule(0);
  }

  /** Stop polling. A poll in flight is left to finish, and its answer ignored (aborting it gains nothing). */
  stop() {
    this.running = false;
    this.generation += 1;
    this.inflight = null;
    this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Poll now (or as soon as Retry-After allows): the tab became visible, or the network came back. */
  pokeNow() {
    if (!this.running || this.inflight) return;
    this.changedAt = this.clock.now(); // something happened to us: look closely again
    this.schedule(Math.max(0, this.notBefore - this.clock.now()));
  }

  /** @param {number} ms */
  schedule(ms) {
    this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => { this.tick(); }, ms);
  }

  nextDelay() {
    const now = this.clock.now();
    return pollDelay({ hintMs: this.hint, quietMs: now - this.changedAt, waitMs: this.notBefore - now,
      random: this.clock.random });
  }

  /** One poll, then the next one scheduled (unless the job ended, is gone, or polling stopped). */
  tick() {
    this.timer = null;
    if (!this.running || this.inflight) return Promise.resolve();
    if (this.isHidden()) return Promise.resolve(); // paused; pokeNow resumes
    const early = this.notBefore - this.clock.now();
    if (early > 0) { this.schedule(early); return Promise.resolve(); }
    const generation = this.generation;
    const jobId = /** @type {string} */ (this.jobId);
    /** @type {Promise<void>} */
    const poll = this.fetchStatus({ jobId }, this.etag, {})
      .finally(() => { if (this.inflight === poll) this.inflight = null; })
      .then((r) => { if (generation === this.generation) this.answered(r.doc, r.etag); },
        (err) => { if (generation === this.generation) this.failed(err); });
    this.inflight = poll;
    return poll;
  }

  /** @param {StatusDoc | null} doc null: 304, nothing new @param {string | null} etag */
  answered(doc, etag) {
    if (doc) {
      this.etag = etag;
      this.hint = doc.pollAfterMs ?? null;
      const print = fingerprint(doc);
      if (print !== this.last) this.changedAt = this.clock.now();
      this.last = print;
      if (FINAL.has(doc.state)) this.stop();
      const generation = this.generation;
      this.onDoc(doc);
      if (!this.running || generation !== this.generation) return; // it ended, or onDoc stopped or restarted us
    }
    this.schedule(this.nextDelay());
  }

  /** @param {any} err an UploadError (or anything thrown) */
  failed(err) {
    if (err?.status === 404) {
      this.stop();
      this.onGone();
      return;
    }
    if (err?.status === 429) {
      // Slow down: wait what the server asks.
      const wait = err.retryAfterMs ?? this.nextDelay();
      this.notBefore = this.clock.now() + wait;
      this.onTrouble('busy', wait);
    } else {
      this.onTrouble('offline', null);
    }
    this.schedule(this.nextDelay());
  }
}
