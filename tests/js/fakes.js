// @ts-check
// Test doubles for the page's modules under Node: a clock whose time moves only when told, and a fetch that
// answers from a script.

/** A clock and timers that move only with advance(): no test waits for real time. */
export class FakeClock {
  constructor(start = 1_000_000) {
    this.t = start;
    /** @type {Map<number, {at: number, fn: () => void}>} */
    this.timers = new Map();
    this.nextId = 1;
    this.randomValue = 0;
  }

  now = () => this.t;

  /** @param {() => void} fn @param {number} ms */
  setTimeout = (fn, ms) => {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  };

  /** @param {any} id */
  clearTimeout = (id) => { this.timers.delete(id); };

  random = () => this.randomValue;

  /** The time of the next timer, or null. */
  nextAt() {
    const ats = [...this.timers.values()].map((x) => x.at);
    return ats.length ? Math.min(...ats) : null;
  }

  /** Move time on by `ms`, running each timer that falls due (and letting its promises settle). @param {number} ms */
  async advance(ms) {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Let every pending promise callback run. */
export async function settle() {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A JSON Response. @param {number} status @param {any} [body] @param {Record<string, string>} [headers]
 */
export function answer(status, body = undefined, headers = {}) {
  const text = body === undefined ? null : JSON.stringify(body);
  return new Response(status === 304 ? null : text,
    { status, headers: { ...(text ? { 'Content-Type': 'application/json' } : {}), ...headers } });
}

/**
 * Replace globalThis.fetch: each call is recorded and answered by `respond` (a Response, or a thrown error).
 * Returns the calls and a restore().
 * @param {(url: string, init: RequestInit) => Response | Promise<Response>} respond
 */
export function stubFetch(respond) {
  const real = globalThis.fetch;
  /** @type {{url: string, init: RequestInit}[]} */
  const calls = [];
  globalThis.fetch = /** @type {typeof fetch} */ (async (url, init = {}) => {
    calls.push({ url: String(url), init });
    if (init.signal?.aborted) throw init.signal.reason;
    return respond(String(url), init);
  });
  return { calls, restore: () => { globalThis.fetch = real; } };
}

/** @param {RequestInit} init @param {string} name */
export function headerOf(init, name) {
  return new Headers(/** @type {HeadersInit} */ (init.headers)).get(name);
}
