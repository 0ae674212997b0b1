// Status polling of one job: 1-2 s at first, backing off with full jitter up to 15 s while nothing changes;
// honours pollAfterMs, Retry-After (429) and ETag (304); pauses while the tab is hidden.

import { fetchStatus } from './api.js';

const FINAL = new Set(['ACTIVE', 'FAILED', 'CANCELLED']);
const MIN_MS = 1000;
const FIRST_CEILING_MS = 2000;
const CAP_MS = 15000;

function fingerprint(doc) {
  return JSON.stringify([doc.state, doc.progress, doc.error, doc.retrying, doc.fileUri]);
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
    this.quiet = 0; // polls in a row that brought nothing new
    this.notBefore = 0; // from Retry-After
    this.wake = () => this.pokeNow();
    this.onVisibility = () => { if (!document.hidden) this.pokeNow(); };
  }

  start(jobId) {
    this.stop();
    Object.assign(this, { jobId, running: true, etag: null, last: null, hint: null, quiet: 0, notBefore: 0 });
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
    this.quiet = 0;
    this.schedule(Math.max(0, this.notBefore - Date.now()));
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), ms);
  }

  nextDelay() {
    const ceiling = Math.min(CAP_MS, FIRST_CEILING_MS * 2 ** this.quiet);
    const jittered = Math.random() * ceiling; // full jitter
    return Math.max(this.hint ?? MIN_MS, MIN_MS, jittered, this.notBefore - Date.now());
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
      this.quiet = print === this.last ? this.quiet + 1 : 0;
      this.last = print;
      this.onDoc(r.doc);
      if (FINAL.has(r.doc.state)) { this.stop(); return; }
    } else if (r.status === 304) {
      this.quiet += 1;
    } else if (r.status === 404) {
      this.stop();
      this.onGone();
      return;
    } else if (r.status === 429) {
      // Slow down: wait what the server asks, and widen the backoff.
      this.quiet += 1;
      const wait = r.retryAfterMs ?? this.nextDelay();
      this.notBefore = Date.now() + wait;
      this.onTrouble('busy', wait);
    } else {
      this.quiet += 1;
      this.onTrouble('offline', null);
    }
    this.schedule(this.nextDelay());
  }
}
