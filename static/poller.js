// Status polling of one job. While the job moves, every 1-1.4 s (the server's pollAfterMs, plus jitter), so the
// page shows a change less than 2 s after it happened. Only when nothing has changed for a long while
// (QUIET_AFTER_MS) does the gap grow, with the quiet time, up to 15 s. Honours Retry-After (429) and ETag (304);
// pauses while the tab is hidden.

import { fetchStatus } from './api.js';

const FINAL = new Set(['ACTIVE', 'FAILED', 'CANCELLED', 'EXPIRED', 'DELETED']);
export const MIN_MS = 1000; // never faster: the status limit allows 60 polls a minute per client
export const JITTER = 0.4; // each gap is 1.0-1.4 x the base: spreads tabs apart, keeps the lag under 2 s
export const QUIET_AFTER_MS = 60000; // nothing new for this long: start backing off
export const CAP_MS = 15000;

function fingerprint(doc) {
  return JSON.stringify([doc.state, doc.progress, doc.error, doc.retrying, doc.fileUri]);
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
   * onDoc(doc): every status document (also unchanged ones are not repeated: 304 gives nothing new).
   * onGone(): the job is unknown (404). onTrouble(kind, retryAfterMs): a 429 ('busy') or error ('offline').
   */
  constructor({ onDoc, onGone, onTrouble }) {
    this.onDoc = onDoc;
    this.onGone = onGone;
    this.onTrouble = onTrouble;
    this.jobId = null;
    this.running = false;
    this.timer = null;
    this.inflight = false;
    this.etag = null;
    this.last = null;
    this.hint = null; // the last document's pollAfterMs
    this.changedAt = 0; // Date.now() of the last poll that brought something new (or of the start)
    this.notBefore = 0; // from Retry-After
    this.wake = () => this.pokeNow();
    this.onVisibility = () => { if (!document.hidden) this.pokeNow(); };
  }

  start(jobId) {
    this.stop();
    Object.assign(this, { jobId, running: true, etag: null, last: null, hint: null, changedAt: Date.now(),
      notBefore: 0 });
    document.addEventListener('visibilitychange', this.onVisibility);
    window.addEventListener('online', this.wake);
    this.schedule(0);
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = null;
    document.removeEventListener('visibilitychange', this.onVisibility);
    window.removeEventListener('online', this.wake);
  }

  /** Poll now (or as soon as Retry-After allows): the tab became visible, or the network came back. */
  pokeNow() {
    if (!this.running || this.inflight) return;
    this.changedAt = Date.now(); // something happened to us: look closely again
    this.schedule(Math.max(0, this.notBefore - Date.now()));
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), ms);
  }

  nextDelay() {
    const now = Date.now();
    return pollDelay({ hintMs: this.hint, quietMs: now - this.changedAt, waitMs: this.notBefore - now });
  }

  async tick() {
    this.timer = null;
    if (!this.running) return;
    if (document.hidden) return; // paused; visibilitychange resumes
    const early = this.notBefore - Date.now();
    if (early > 0) { this.schedule(early); return; }
    this.inflight = true;
    const jobId = this.jobId;
    const r = await fetchStatus({ jobId }, this.etag);
    this.inflight = false;
    if (!this.running || jobId !== this.jobId) return;
    if (r.status === 200 && r.doc) {
      this.etag = r.etag;
      this.hint = r.doc.pollAfterMs ?? null;
      const print = fingerprint(r.doc);
      if (print !== this.last) this.changedAt = Date.now();
      this.last = print;
      this.onDoc(r.doc);
      if (FINAL.has(r.doc.state)) { this.stop(); return; }
    } else if (r.status === 404) {
      this.stop();
      this.onGone();
      return;
    } else if (r.status === 429) {
      // Slow down: wait what the server asks.
      const wait = r.retryAfterMs ?? this.nextDelay();
      this.notBefore = Date.now() + wait;
      this.onTrouble('busy', wait);
    } else {
      this.onTrouble('offline', null);
    }
    this.schedule(this.nextDelay());
  }
}
