// Everything the page shows: the picker, the three stages with their progress bars, the result, and the
// polite live region for screen readers. No network and no state decisions here.

const $ = (id) => document.getElementById(id);

export function formatBytes(n) {
  if (n == null || !Number.isFinite(n)) return '?';
  // Powers of 1024 with the familiar short names, as most file managers show sizes.
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${v} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

const STAGE_NAMES = { send: 'Uploading to FocalPoint', gemini: 'Uploading to Gemini', process: 'Processing video' };

export class View {
  constructor() {
    this.announced = {}; // stage -> last announced tenth, so the live region speaks every 10 %, not every event
  }

  // --- picker -------------------------------------------------------------------------------------------
  setLimits(text) { $('limits').textContent = text; }

  /** The server sends uploads to its Gemini emulator (GET /api/upload/config: geminiEmulated). */
  setEmulated(on) { $('emulated').hidden = !on; }

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

  formError(message) {
    const el = $('form-error');
    el.textContent = message ?? '';
    el.hidden = !message;
  }

  /** The picker is usable only while the page is idle; the upload button also needs a valid file. */
  setPickerEnabled(enabled, canUpload) {
    $('file').disabled = !enabled;
    $('drop').classList.toggle('disabled', !enabled);
    $('upload').disabled = !(enabled && canUpload);
  }

  showPicker(visible) { $('picker').hidden = !visible; }

  // --- notices ----------------------------------------------------------------------------------------------
  showElsewhere(visible) { $('elsewhere').hidden = !visible; }

  /** `needsFile`: the upload is incomplete; the user must pick the same file again to carry on. */
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

  resumeError(text) {
    $('resume-error').textContent = text;
    $('resume-error').hidden = false;
  }

  /** The pause button: 'pause', 'resume', or null (hidden). */
  setPauseMode(mode) {
    $('pause').hidden = mode == null;
    $('pause').textContent = mode === 'resume' ? 'Resume' : 'Pause';
  }

  hideResume() { $('resume').hidden = true; }

  previous(text) {
    $('previous').textContent = text ?? '';
    $('previous').hidden = !text;
  }

  // --- stages -------------------------------------------------------------------------------------------
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
    $('cancel').disabled = false;
    $('again').hidden = true;
    this.note(null);
  }

  /** status: pending | active | done | failed. */
  stage(stage, status, detail) {
    const li = document.querySelector(`[data-stage="${stage}"]`);
    if (li.dataset.status !== status) {
      li.dataset.status = status;
      if (status === 'failed') li.querySelector('.bar').classList.remove('indeterminate'); // stop the motion
      if (status === 'active') this.announce(`${STAGE_NAMES[stage]}…`);
    }
    if (detail !== undefined) $(`${stage}-detail`).textContent = detail;
  }

  /** pct: 0-100, or null for an indeterminate bar. valueText: what a screen reader says for the value. */
  bar(stage, pct, valueText) {
    const bar = document.querySelector(`[data-stage="${stage}"] .bar`);
    const fill = bar.querySelector('.fill');
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

  note(text) {
    $('note').textContent = text ?? '';
    $('note').hidden = !text;
  }

  setCancelEnabled(enabled) { $('cancel').disabled = !enabled; }

  // --- results ----------------------------------------------------------------------------------------------
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

  announce(text) {
    $('live').textContent = text;
  }
}
