// @ts-check
// Everything the page shows and every DOM event it listens to: the picker, the three stages with their progress
// bars, the result, the polite live region for screen readers, and the wiring of buttons and drops to the
// handlers main.js gives. The only module that touches the DOM. No network and no state decisions here.

import { formatBytes } from './format.js';

export { formatBytes, formatDuration } from './format.js';

/** @param {string} id @returns {HTMLElement} */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el;
}

/** @param {string} id @returns {HTMLInputElement} */
const input = (id) => /** @type {HTMLInputElement} */ ($(id));
/** @param {string} id @returns {HTMLButtonElement} */
const button = (id) => /** @type {HTMLButtonElement} */ ($(id));

/** @param {string} stage @returns {HTMLElement} */
function stageItem(stage) {
  const li = document.querySelector(`[data-stage="${stage}"]`);
  if (!(li instanceof HTMLElement)) throw new Error(`the page has no stage ${stage}`);
  return li;
}

/** @type {Record<string, string>} */
const STAGE_NAMES = { send: 'Uploading to FocalPoint', gemini: 'Uploading to Gemini', process: 'Processing video' };

/**
 * The bearer token the page was given: FocalPoint's app puts it in `<meta name="focalpoint-upload-token">`; for
 * trying the service out it may instead come in the URL fragment, `#token=…` (a fragment never leaves the
 * browser). '' when there is none.
 * @returns {string}
 */
export function pageToken() {
  const meta = document.querySelector('meta[name="focalpoint-upload-token"]');
  const fromMeta = meta?.getAttribute('content') ?? '';
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
  return (fromMeta || fromHash).trim();
}

/**
 * What the user can do on the page; main.js decides what each means in the current state.
 * @typedef {{
 *   choose: (file: File | null) => void, start: () => void, cancel: () => void, again: () => void,
 *   pauseOrResume: () => void, resumeYes: () => void, resumeNo: () => void, repick: (file: File | null) => void,
 *   canDrop: () => boolean, leavingLosesWork: () => boolean, wake: () => void,
 * }} Handlers
 */

export class View {
  constructor() {
    /** @type {Record<string, number>} stage -> last announced tenth: speak every 10 %, not every event */
    this.announced = {};
  }

  /** Listen to the page's controls, drops, visibility and network, and call `h`. Once, at start. @param {Handlers} h */
  wire(h) {
    const file = input('file');
    const drop = $('drop');
    file.addEventListener('change', () => h.choose(file.files?.[0] ?? null));
    $('picker').addEventListener('submit', (e) => { e.preventDefault(); h.start(); });
    $('cancel').addEventListener('click', () => h.cancel());
    $('again').addEventListener('click', () => h.again());
    $('resume-yes').addEventListener('click', () => h.resumeYes());
    $('resume-no').addEventListener('click', () => h.resumeNo());
    const again = input('resume-file');
    again.addEventListener('change', () => { h.repick(again.files?.[0] ?? null); again.value = ''; });
    $('pause').addEventListener('click', () => h.pauseOrResume());
    $('copy').addEventListener('click', () => {
      navigator.clipboard?.writeText($('result-uri').textContent ?? '').catch(() => {});
    });
    for (const type of ['dragenter', 'dragover']) {
      drop.addEventListener(type, (e) => {
        e.preventDefault();
        if (h.canDrop()) drop.classList.add('over');
      });
    }
    for (const type of ['dragleave', 'drop']) drop.addEventListener(type, () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      const dropped = /** @type {DragEvent} */ (e).dataTransfer?.files;
      if (h.canDrop() && dropped?.length) h.choose(dropped[0]);
    });
    // A file dropped anywhere else must not navigate away from a running upload.
    window.addEventListener('dragover', (e) => e.preventDefault());
    window.addEventListener('drop', (e) => e.preventDefault());
    window.addEventListener('beforeunload', (e) => {
      if (h.leavingLosesWork()) e.preventDefault(); // leaving now would stop sending the file
    });
    // The tab shown again, or the network back: look at the job now rather than after a backoff.
    document.addEventListener('visibilitychange', () => { if (!document.hidden) h.wake(); });
    window.addEventListener('online', () => h.wake());
  }

  /** What each PATCH did, as window.focalpointChunks (for the tests and for support). @param {object[]} chunks */
  exposeChunks(chunks) { /** @type {any} */ (window).focalpointChunks = chunks; }

  /** True while the tab is hidden (polling pauses). */
  hidden() { return document.hidden; }

  /** The page's state on <body data-state> (for styling and tests). @param {string} state */
  setState(state) { document.body.dataset.state = state; }

  /** The page finished starting up (tests wait for it). */
  ready() { document.body.dataset.ready = 'true'; }

  /** Bytes the server acknowledged (on <body data-acked>, for tests). @param {number} offset */
  setAcked(offset) { document.body.dataset.acked = String(offset); }

  // --- picker -------------------------------------------------------------------------------------------
  /** @param {string} text */
  setLimits(text) { $('limits').textContent = text; }

  /** The media types the file dialog offers. @param {string[]} types */
  setAccept(types) { input('file').accept = types.join(','); }

  /** The server sends uploads to its Gemini emulator (GET /api/upload/config: geminiEmulated). @param {boolean} on */
  setEmulated(on) { $('emulated').hidden = !on; }

  /** @param {File | null} file */
  showFile(file) {
    const info = $('file-info');
    info.hidden = !file;
    info.replaceChildren();
    if (!file) return;
    const name = document.createElement('strong');
    name.textContent = file.name;
    const size = document.createElement('span');
    size.className = 'size';
    size.textContent = ` · ${formatBytes(file.size)}`;
    info.append(name, size);
  }

  /** @param {string | null} message */
  formError(message) {
    const el = $('form-error');
    el.textContent = message ?? '';
    el.hidden = !message;
  }

  /**
   * The picker is usable only while the page is idle; the upload button also needs a valid file.
   * @param {boolean} enabled @param {boolean} canUpload
   */
  setPickerEnabled(enabled, canUpload) {
    input('file').disabled = !enabled;
    $('drop').classList.toggle('disabled', !enabled);
    button('upload').disabled = !(enabled && canUpload);
  }

  /** @param {boolean} visible */
  showPicker(visible) { $('picker').hidden = !visible; }

  focusPicker() { $('drop').focus?.(); }

  // --- notices ----------------------------------------------------------------------------------------------
  /** @param {boolean} visible */
  showElsewhere(visible) { $('elsewhere').hidden = !visible; }

  /**
   * Offer the saved upload. `needsFile`: it is incomplete; the user must pick the same file again to carry on.
   * @param {{fileName?: string, fileSize?: number}} rec @param {boolean} [needsFile]
   */
  offerResume(rec, needsFile = false) {
    const what = rec.fileName ? `“${rec.fileName}” (${formatBytes(rec.fileSize)})` : 'An earlier upload';
    $('resume-text').textContent = needsFile
      ? `${what} was not finished when this page was closed or reloaded. Choose the same file again to send the rest.`
      : `${what} was still being handled when this page was closed or reloaded.`;
    $('resume-error').hidden = true;
    $('resume-yes').hidden = needsFile;
    $('resume-pick').hidden = !needsFile;
    $('resume').hidden = false;
    (needsFile ? $('resume-file') : $('resume-yes')).focus();
  }

  /** @param {string} text */
  resumeError(text) {
    $('resume-error').textContent = text;
    $('resume-error').hidden = false;
  }

  /** The pause button: 'pause', 'resume', or null (hidden). @param {'pause' | 'resume' | null} mode */
  setPauseMode(mode) {
    $('pause').hidden = mode == null;
    $('pause').textContent = mode === 'resume' ? 'Resume' : 'Pause';
  }

  hideResume() { $('resume').hidden = true; }

  /** @param {string | null} text */
  previous(text) {
    $('previous').textContent = text ?? '';
    $('previous').hidden = !text;
  }

  // --- stages -------------------------------------------------------------------------------------------
  /** @param {string | null | undefined} fileName @param {number | null | undefined} fileSize */
  startProgress(fileName, fileSize) {
    this.announced = {};
    $('progress').hidden = false;
    $('progress-file').textContent = fileName ? `${fileName} · ${formatBytes(fileSize)}` : '';
    for (const stage of Object.keys(STAGE_NAMES)) {
      this.stage(stage, 'pending', '');
      this.bar(stage, 0);
    }
    $('result').hidden = true;
    $('cancel').hidden = false;
    button('cancel').disabled = false;
    $('again').hidden = true;
    this.note(null);
  }

  /**
   * @param {string} stage send | gemini | process
   * @param {string} status pending | active | done | failed
   * @param {string} [detail] the text beside the stage's name (unchanged when undefined)
   */
  stage(stage, status, detail) {
    const li = stageItem(stage);
    if (li.dataset.status !== status) {
      li.dataset.status = status;
      if (status === 'failed') li.querySelector('.bar')?.classList.remove('indeterminate'); // stop the motion
      if (status === 'active') this.announce(`${STAGE_NAMES[stage]}…`);
    }
    if (detail !== undefined) $(`${stage}-detail`).textContent = detail;
  }

  /** @param {string} stage @returns {string} its status: pending | active | done | failed */
  stageStatus(stage) { return stageItem(stage).dataset.status ?? ''; }

  /** Mark the stage that was running (or the first not reached) as failed. */
  failCurrentStage() {
    const active = document.querySelector('.stage[data-status="active"]')
      ?? document.querySelector('.stage[data-status="pending"]');
    if (active instanceof HTMLElement && active.dataset.stage) this.stage(active.dataset.stage, 'failed');
  }

  /**
   * @param {string} stage
   * @param {number | null} pct 0-100, or null for an indeterminate bar
   * @param {string} [valueText] what a screen reader says for the value
   */
  bar(stage, pct, valueText) {
    const bar = /** @type {HTMLElement} */ (stageItem(stage).querySelector('.bar'));
    const fill = /** @type {HTMLElement} */ (bar.querySelector('.fill'));
    if (pct == null) {
      bar.classList.add('indeterminate');
      bar.removeAttribute('aria-valuenow');
      fill.style.width = '';
    } else {
      const v = Math.max(0, Math.min(100, Math.floor(pct)));
      bar.classList.remove('indeterminate');
      bar.setAttribute('aria-valuenow', String(v));
      fill.style.width = `${v}%`;
      const tenth = Math.floor(v / 10);
      if (v > 0 && v < 100 && this.announced[stage] !== tenth) {
        this.announced[stage] = tenth;
        this.announce(`${STAGE_NAMES[stage]}: ${v} %`);
      }
    }
    if (valueText) bar.setAttribute('aria-valuetext', valueText);
    else bar.removeAttribute('aria-valuetext');
  }

  /** @param {string | null} text */
  note(text) {
    $('note').textContent = text ?? '';
    $('note').hidden = !text;
  }

  /** @param {boolean} enabled */
  setCancelEnabled(enabled) { button('cancel').disabled = !enabled; }

  // --- results ----------------------------------------------------------------------------------------------
  /**
   * @param {'ok' | 'bad' | 'gone'} kind gone: it was ready, its Gemini file is gone since
   * @param {string} title @param {string | null} text
   * @param {{uri?: string | null, advice?: string}} [extra]
   */
  result(kind, title, text, { uri = null, advice = '' } = {}) {
    const box = $('result');
    box.hidden = false;
    box.className = `result ${kind}`;
    $('result-title').textContent = title;
    $('result-text').textContent = text ?? '';
    $('result-text').hidden = !text;
    $('result-uri-row').hidden = !uri;
    $('result-uri').textContent = uri ?? '';
    $('result-advice').textContent = advice;
    $('result-advice').hidden = !advice;
    $('cancel').hidden = true;
    $('pause').hidden = true;
    $('again').hidden = false;
    this.announce(`${title}. ${text ?? ''}`);
    box.focus();
  }

  hideProgress() { $('progress').hidden = true; }

  /** @param {string} text */
  announce(text) {
    $('live').textContent = text;
  }
}
