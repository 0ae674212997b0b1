// How a job's status document shows on the stage list: one stage per leg, never 100 % before the server says so.

import { formatBytes, formatDuration } from './ui.js';

// Render `doc` (GET /api/upload/status) on the stages; `ctx`: {fileSize, processingSince} known to the page.
export function renderStages(view, doc, ctx) {
  view.stage('send', 'done', ctx.fileSize ? `${formatBytes(ctx.fileSize)} received` : 'Received');
  view.bar('send', 100, 'Received by FocalPoint');
  const p = doc.progress ?? {};
  switch (doc.state) {
    case 'SPOOLING':
      view.stage('send', 'active', 'Receiving…');
      view.bar('send', null);
      break;
    case 'SPOOLED':
      view.stage('gemini', 'active', 'Waiting for a free upload slot…');
      view.bar('gemini', null);
      break;
    case 'UPLOADING': {
      const total = p.bytesTotal || ctx.fileSize;
      const done = p.bytesUploaded ?? 0;
      // Gemini's last acknowledgement moves the job to PROCESSING; until then it is never 100 %.
      const pct = total ? Math.min(99, (done / total) * 100) : null;
      view.stage('gemini', 'active', total ? `${formatBytes(done)} of ${formatBytes(total)}` : 'Uploading…');
      view.bar('gemini', pct, total ? `${formatBytes(done)} of ${formatBytes(total)} uploaded to Gemini` : undefined);
      break;
    }
    case 'PROCESSING':
      geminiDone(view, p);
      view.stage('process', 'active', `${formatDuration((Date.now() - ctx.processingSince) / 1000)} elapsed`);
      view.bar('process', null);
      break;
    case 'ACTIVE':
      geminiDone(view, p);
      view.stage('process', 'done', ctx.processingSince ? formatDuration((Date.now() - ctx.processingSince) / 1000) : '');
      view.bar('process', 100, 'Done');
      break;
    default:
      break;
  }
}

function geminiDone(view, p) {
  view.stage('gemini', 'done', p.bytesTotal ? `${formatBytes(p.bytesTotal)} uploaded` : 'Uploaded');
  view.bar('gemini', 100, 'Uploaded to Gemini');
}

// Mark the stage that was running (or the first not reached) as failed.
export function markFailedStage(view) {
  const active = document.querySelector('.stage[data-status="active"]')
    ?? document.querySelector('.stage[data-status="pending"]');
  if (active) view.stage(active.dataset.stage, 'failed');
}
