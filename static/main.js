// @ts-check
// The page's entry point: choosing a file, starting over, and start-up (the token, the wiring of the view to the
// handlers, the published limits, a saved upload). The page's states and moves are machine.js's table, shared
// through page.js; sending is sending.js, tracking and cancel tracking.js, resuming after a reload resume.js,
// and everything shown goes through ui.js.

import { getConfig, setAuthToken } from './api.js';
import { checkFile, mediaTypeOf } from './checks.js';
import { formatBytes } from './format.js';
import { can } from './machine.js';
import { go, page, render, view } from './page.js';
import { checkSaved, repick, resumeNo, resumeYes } from './resume.js';
import { pause, start, unpause } from './sending.js';
import { cancel, poller } from './tracking.js';
import { pageToken } from './ui.js';

// --- choosing a file ------------------------------------------------------------------------------------------
/** @param {File | null} file */
function choose(file) {
  if (!can(page.state, 'CHOOSE')) return;
  page.file = file;
  page.mediaType = null;
  view.showFile(file);
  view.formError(null);
  view.previous(null);
  if (file) {
    const problem = checkFile(file, page.config);
    if (problem) view.formError(problem);
    else page.mediaType = mediaTypeOf(file);
  }
  go('CHOOSE');
}

function again() {
  if (!can(page.state, 'AGAIN')) return;
  page.attempt = null;
  page.processingSince = null;
  page.acked = 0;
  view.hideProgress();
  view.showPicker(true);
  go('AGAIN');
  choose(page.file); // the same file stays chosen: upload it again with one click (a new attempt)
  view.focusPicker();
}

// --- start-up ------------------------------------------------------------------------------------------------------
async function init() {
  setAuthToken(pageToken());
  view.exposeChunks(page.chunks); // what each PATCH did, for the tests and for support
  view.wire({
    choose, start, cancel, again, resumeYes, resumeNo, repick,
    pauseOrResume: () => (can(page.state, 'UNPAUSE') ? unpause() : pause()),
    canDrop: () => can(page.state, 'CHOOSE'),
    leavingLosesWork: () => can(page.state, 'PAUSE'), // sending: leaving now would stop it
    wake: () => poller.pokeNow(),
  });
  render();
  try {
    const config = await getConfig();
    page.config = config;
    view.setLimits(`Videos up to ${formatBytes(config.maxUploadBytes)}.`);
    view.setEmulated(config.geminiEmulated === true);
    view.setAccept(config.allowedMediaTypes);
  } catch {
    view.setLimits('');
    view.formError('The upload limits could not be loaded; reload the page to try again.');
  }
  if (page.file) choose(page.file);
  await checkSaved();
  view.ready();
}

init();
