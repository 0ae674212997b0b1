"""The sweeper: no job stays stuck, no spool file outlives its job.

Each sweep looks at every open (non-final) job and at every file in the spool directory:

- resumable (``/api/uploads``) SPOOLING with no progress for FOCALPOINT_UPLOAD_EXPIRY -> FAILED ``upload_expired``
  and the ``.part`` removed; its deadline counts from its last byte.
- SPOOLING with no progress past the ingest idle timeout: its front door died -> FAILED ``ingest_interrupted``
  and the ``.part`` removed; the attemptId is free again (the client may send it again).
- SPOOLED / UPLOADING (no live lease) / PROCESSING whose message is FOCALPOINT_STALE_AFTER past its due time
  (or its last write): the message was lost (e.g. a delayed message Dramatiq dropped from memory when Redis
  restarted) -> a fresh message chain (``Leg.resend``; message generations make this safe even if the old
  one turns up after all).
- Past the job's overall deadline (FOCALPOINT_JOB_DEADLINE) -> FAILED ``deadline_exceeded``. Time spent
  waiting for Gemini storage does not count, and a job waiting right now is not judged (it has its own
  deadline, GEMINI_STORAGE_WAIT, see ``actors.storage``).
- Gemini files past their end -> EXPIRED, and the storage budget settled (``actors.storage.FileLife``).
- Spool files: removed when their job is ACTIVE (after FOCALPOINT_SPOOL_RETENTION_ACTIVE), FAILED (after
  FOCALPOINT_SPOOL_RETENTION_FAILED), CANCELLED, or gone; ``.part`` files whose job is not SPOOLING.

Safe from many processes at once: every job change is a compare-and-set and every file removal idempotent.
``recovering=True`` (start-up of the embedded default, the only process of its deployment) treats every
SPOOLING job as dead and every job without a live lease as needing a new message at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from focalpoint_upload.actors.ports import Alerts
from focalpoint_upload.actors.storage import FileLife
from focalpoint_upload.config import Settings
from focalpoint_upload.jobs import ErrorCode, Event, IllegalTransition, Job, JobNotFound, JobStore, StaleJob, State
from focalpoint_upload.jobs.codes import failure
from focalpoint_upload.jobs.lease import JobLeases
from focalpoint_upload.jobs.spool import Spool, fail_spooling

log = logging.getLogger("focalpoint.sweeper")


@dataclass
class SweepReport:
    open_jobs: int = 0
    interrupted: int = 0
    resent: dict[str, int] = field(default_factory=dict)
    deadline_failed: int = 0
    spool_removed: int = 0
    orphans_removed: int = 0
    expired: int = 0
    storage_released: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Sweeper:
    def __init__(self, settings: Settings, store: JobStore, leases: JobLeases, resend: Callable[[str], bool],
                 clock: Callable[[], float], alerts: Alerts | None = None,
                 on_stuck: Callable[[str], None] | None = None, file_life: FileLife | None = None,
                 release_session: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.leases = leases
        self.resend = resend
        self.clock = clock
        self.alerts = alerts
        self.on_stuck = on_stuck or (lambda stage: None)
        self.file_life = file_life
        # Stream-through: a spooling upload the sweeper fails may hold a Gemini session; this lets it go
        # (the stream's own next message would too, unless its chain was lost).
        self.release_session = release_session or (lambda job_id: None)

    def sweep(self, *, recovering: bool = False) -> SweepReport:
        report = SweepReport()
        for job_id in self.store.open_jobs():
            job = self.store.get(job_id)
            if job is None or job.final:
                continue
            report.open_jobs += 1
            try:
                self._job(job, report, recovering)
            except (StaleJob, IllegalTransition, JobNotFound):
                continue  # it moved while we looked: it is alive
        if self.file_life is not None:
            report.expired, report.storage_released = self.file_life.sweep()
        self._files(report)
        if report.interrupted or report.resent or report.deadline_failed:
            log.warning("sweep_found_stuck_jobs", extra={"fields": report.as_dict()})
        return report

    def _job(self, job: Job, report: SweepReport, recovering: bool) -> None:
        now = self.clock()
        idle = now - job.updated_at
        s = self.settings
        if job.resumable and job.state == State.SPOOLING:
            # A resumable upload waits for its client between requests: it expires after no progress for
            # FOCALPOINT_UPLOAD_EXPIRY, not after the ingest idle timeout, and a restart does not end it.
            # Not updated_at: stream-through writes a streaming job's record too, and that is no sign of life.
            if now - job.ingest_progress_at > s.upload_expiry_s and self._fail_spooling(job, ErrorCode.UPLOAD_EXPIRED):
                if job.streaming:
                    self.release_session(job.job_id)
                report.interrupted += 1
            return
        started = job.retried_at or (job.last_byte_at if job.resumable else None) or job.created_at
        if job.waiting is None and now - started - job.waited_s > s.job_deadline_s:
            self._fail(job, ErrorCode.DEADLINE_EXCEEDED)
            report.deadline_failed += 1
            self.on_stuck(str(job.state))
            return
        if job.state == State.SPOOLING:
            if (recovering or idle > s.ingest_idle_timeout_s + 30) and self._fail_spooling(
                    job, ErrorCode.INGEST_INTERRUPTED):
                report.interrupted += 1
                self.on_stuck(str(job.state))
            return
        if job.state == State.UPLOADING and self.leases.held(job.job_id):
            return  # a run is uploading it right now
        late = now - max(job.updated_at, job.due_at or 0.0)  # since its last write or its message's due time
        if (recovering or late > s.stale_after_s) and self.resend(job.job_id):
            report.resent[str(job.state)] = report.resent.get(str(job.state), 0) + 1
            self.on_stuck(str(job.state))

    def _fail(self, job: Job, code: ErrorCode) -> None:
        fields = failure(code)
        self.store.transition(job.job_id, Event.FAIL, expect=job.state, **fields)
        self._failed(job, code, fields["error_message"])

    def _fail_spooling(self, job: Job, code: ErrorCode) -> bool:
        """A SPOOLING upload given up on (see fail_spooling); False if it moved on meanwhile (it is alive)."""
        failed = fail_spooling(self.store, job, code)
        if failed is not None:
            self._failed(job, code, failed.error_message or "")
        return failed is not None

    def _failed(self, job: Job, code: ErrorCode, message: str) -> None:
        log.error("job_failed", extra={"fields": {"jobId": job.job_id, "attemptId": job.attempt_id,
                                                  "stage": str(job.state), "code": str(code), "by": "sweeper"}})
        if self.alerts is not None:
            self.alerts.job_failed(job.job_id, job.attempt_id, str(job.state), code, message)

    def _files(self, report: SweepReport) -> None:
        now = self.clock()
        for entry in Spool(self.settings.spool_dir).entries():
            job = self.store.get(entry.job_id)
            if job is None:
                if _older_than(entry.path, now, 60):  # no job claims it (its record expired, or it never had one)
                    report.orphans_removed += Spool.unlink(entry.path)
                continue
            if entry.partial:  # only a SPOOLING job may have a .part
                if job.state != State.SPOOLING:
                    report.orphans_removed += Spool.unlink(entry.path)
                continue
            keep_for = {State.ACTIVE: self.settings.spool_retention_active_s,
                        State.FAILED: 0.0 if job.ingest_failed else self.settings.spool_retention_failed_s,
                        State.CANCELLED: 0.0, State.DELETED: 0.0,
                        State.EXPIRED: self.settings.spool_retention_failed_s}.get(job.state)
            if keep_for is not None and now - job.updated_at >= keep_for:
                report.spool_removed += Spool.unlink(entry.path)


def _older_than(path: Path, now: float, seconds: float) -> bool:
    try:
        return now - path.stat().st_mtime > seconds
    except FileNotFoundError:
        return False
