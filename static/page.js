// @ts-check
// What the page's controller modules share: the page's state (one object), the view, and the one way to move
// between states, `go` (machine.js's table; it throws on a move the table lacks).

import { whenFree } from './lock.js';
import { advance, can } from './machine.js';
import { View } from './ui.js';

/** @typedef {import('./machine.js').PageState} PageState */
/** @typedef {import('./machine.js').PageEvent} PageEvent */
/** @typedef {import('./store.js').Attempt} Attempt */

export const view = new View();
export const page = {
  /** @type {PageState} */
  state: 'IDLE',
  /** @type {import('./api.js').UploadConfig | null} */
  config: null,
  /** @type {File | null} */
  file: null,
  /** @type {string | null} */
  mediaType: null,
  /** @type {Attempt | null} the stored record of the upload under way */
  attempt: null,
  /** @type {{offset: number, size: number, seconds: number, status: number}[]} every PATCH (for tests, support) */
  chunks: [],
  /** @type {AbortController | null} the current send's; aborted by pause and cancel */
  controller: null,
  /** @type {(() => void) | null} the Web Lock's release */
  release: null,
  /** @type {number | null} */
  processingSince: null,
  acked: 0, // bytes the server acknowledged
  elsewhere: false, // another tab holds the upload lock
  resumeNeedsFile: false, // the offered upload is incomplete: only picking the file again resumes it
};

/** Move by `event`; throws (machine.js) on a move the table does not have. @param {PageEvent} event */
export function go(event) {
  page.state = advance(page.state, event);
  render();
}

export function render() {
  view.setState(page.state);
  view.setPickerEnabled(can(page.state, 'CHOOSE') && !page.elsewhere, Boolean(page.file && page.mediaType));
}

/** Another tab holds the upload lock: say so until it lets go, then `then`. @param {() => void} [then] */
export function otherTab(then) {
  page.elsewhere = true;
  view.showElsewhere(true);
  render();
  whenFree(() => {
    page.elsewhere = false;
    view.showElsewhere(false);
    render();
    then?.();
  });
}
