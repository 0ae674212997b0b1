// @ts-check
// The page's states and the only moves between them, as a table. The controller (main, sending, tracking,
// resume) asks `can` before it acts on a click or a late answer (one in the wrong state is ignored), and moves
// only through `advance` (page.js's `go`), which throws on a move the table does not have: a bug shows as an
// error instead of a page in a state nobody planned. Pure: no DOM, no network.
//
//   IDLE -START-> STARTING -SEND-> SENDING <-PAUSE/UNPAUSE-> PAUSED
//   SENDING -SENT-> TRACKING -FINISH-> DONE -AGAIN-> IDLE        (only IDLE starts an upload)
//   IDLE -OFFER-> RESUME_OFFER -RESUME-> RESUMING -SEND/TRACK-> SENDING/TRACKING   (after a reload)
//   SENDING, PAUSED, TRACKING -CANCEL-> CANCELLING -FINISH-> DONE (or -TRACK-> TRACKING: it became ready first)

/** @typedef {'IDLE' | 'STARTING' | 'RESUME_OFFER' | 'RESUMING' | 'SENDING' | 'PAUSED' | 'TRACKING' | 'CANCELLING' | 'DONE'} PageState */
/**
 * @typedef {'CHOOSE' | 'START' | 'LOCK_REFUSED' | 'SEND' | 'PROGRESS' | 'PAUSE' | 'UNPAUSE' | 'SENT' | 'TRACK'
 *   | 'DOC' | 'FINISH' | 'CANCEL' | 'OFFER' | 'RESUME' | 'DISMISS' | 'FORGET' | 'AGAIN'} PageEvent
 */

/** @type {Readonly<Record<PageState, Readonly<Partial<Record<PageEvent, PageState>>>>>} */
export const TABLE = Object.freeze({
  // A file may be chosen (again and again); the chosen one is sent; a saved upload may be offered.
  IDLE: { CHOOSE: 'IDLE', START: 'STARTING', OFFER: 'RESUME_OFFER' },
  // Taking the tab lock and hashing the file's head: the button is already disabled.
  STARTING: { SEND: 'SENDING', LOCK_REFUSED: 'IDLE' },
  // A saved upload is offered: carry on (pick the file again, or just watch it) or forget it.
  RESUME_OFFER: { RESUME: 'RESUMING', DISMISS: 'IDLE' },
  // Taking the tab lock (and finding the job) for the offered upload; FORGET: it never reached the server.
  RESUMING: { SEND: 'SENDING', TRACK: 'TRACKING', LOCK_REFUSED: 'IDLE', FORGET: 'IDLE' },
  // PATCHes in flight; PROGRESS is an acknowledgement or bytes on the wire.
  SENDING: { PROGRESS: 'SENDING', PAUSE: 'PAUSED', SENT: 'TRACKING', CANCEL: 'CANCELLING', FINISH: 'DONE' },
  PAUSED: { UNPAUSE: 'SENDING', CANCEL: 'CANCELLING' },
  // Polling the job's status; DOC is a status document (or trouble getting one).
  TRACKING: { DOC: 'TRACKING', CANCEL: 'CANCELLING', FINISH: 'DONE' },
  CANCELLING: { TRACK: 'TRACKING', FINISH: 'DONE' },
  DONE: { AGAIN: 'IDLE' },
});

/** @type {readonly PageState[]} */
export const STATES = /** @type {PageState[]} */ (Object.keys(TABLE));
/** @type {readonly PageEvent[]} */
export const EVENTS = /** @type {PageEvent[]} */ ([...new Set(Object.values(TABLE).flatMap(Object.keys))]);

export class IllegalMove extends Error {
  /** @param {string} state @param {string} event */
  constructor(state, event) {
    super(`The page cannot ${event} while ${state}.`);
    this.name = 'IllegalMove';
    this.state = state;
    this.event = event;
  }
}

/**
 * Whether `event` is a move from `state`.
 * @param {PageState} state @param {PageEvent} event
 * @returns {boolean}
 */
export function can(state, event) {
  return Object.hasOwn(TABLE[state] ?? {}, event);
}

/**
 * The state after `event` in `state`. Throws IllegalMove when the table has no such move.
 * @param {PageState} state @param {PageEvent} event
 * @returns {PageState}
 */
export function advance(state, event) {
  const next = TABLE[state]?.[event];
  if (next === undefined) throw new IllegalMove(state, event);
  return next;
}
