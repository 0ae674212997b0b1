"""The Gemini storage budget as the actors use it: wait for room before an upload, give it back after a file.

- :func:`admit` -- before a SPOOLED job's upload starts, its bytes are reserved in the budget
  (``jobs.storage``). With no room the job stays SPOOLED with ``waiting: "gemini_storage"`` and its upload
  message is sent again after :data:`RECHECK_S` (no thread waits). Waiting is never failed by the job deadline
  (the sweeper skips it and does not count the time); it has its own, GEMINI_STORAGE_WAIT, after which the job
  fails with ``gemini_storage_timeout`` (retryable).
- :class:`FileLife` -- run by the sweeper: ACTIVE jobs whose file's end has come (Gemini's ``expirationTime``,
  or GEMINI_FILE_TTL after ACTIVE) become EXPIRED (the outbox records ``upload.expired``); every counted job
  that can no longer have a file (EXPIRED, DELETED -- a DELETE of an ACTIVE job --, FAILED, CANCELLED, or
  gone) has its Gemini file deleted and its bytes released. A delete that fails transiently keeps the bytes
  counted and is tried again by the next sweep: the space is never counted free while the file may exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from focalpoint_upload.actors.ports import Files
from focalpoint_upload.gemini.errors import GeminiError, GeminiTransient
from focalpoint_upload.jobs import ErrorCode, Event, IllegalTransition, Job, JobNotFound, JobStore, StaleJob, State
from focalpoint_upload.jobs.storage import StorageBudget

if TYPE_CHECKING:
    from focalpoint_upload.actors.leg import Leg

log = logging.getLogger("focalpoint.storage")
RECHECK_S = (5.0, 15.0)  # a waiting job looks for room again after this long (jittered)
WAITING_FOR_STORAGE = "gemini_storage"
_NO_FILE = (State.EXPIRED, State.DELETED, State.FAILED, State.CANCELLED)


def admit(leg: Leg, job: Job, gen: int) -> bool:
    """True when ``job`` (SPOOLED, message ``gen``) has its bytes counted and may start uploading. False when
    it waits (its next message is sent) or failed for waiting too long."""
    budget = leg.storage
    if budget is None or budget.reserve(job.job_id, job.bytes_total or 0):
        return True
    now = leg.clock()
    if job.waiting_since is not None and now - job.waiting_since > leg.settings.gemini_storage_wait_s:
        leg._fail(job, ErrorCode.GEMINI_STORAGE_TIMEOUT, "Gemini storage (GEMINI_STORAGE_BUDGET) stayed full for "
                  "longer than the job may wait; retry the job later.")
        return False
    if job.waiting is None:
        try:
            leg.store.update(job.job_id, expect=State.SPOOLED, waiting=WAITING_FOR_STORAGE, waiting_since=now)
        except (StaleJob, JobNotFound):
            return False
        log.info("job_waiting_for_storage", extra={"fields": {"jobId": job.job_id, "bytes": job.bytes_total,
                                                              "used": budget.used()}})
        if leg.on_storage_wait is not None:
            leg.on_storage_wait()
    leg._next(job.job_id, gen, "upload", leg.uniform(*leg.storage_recheck_s))
    return False


def started_fields(job: Job, now: float) -> dict[str, object]:
    """What SPOOLED -> UPLOADING clears of a wait (and the time waited, which the job deadline leaves out)."""
    waited = job.waited_s + (now - job.waiting_since if job.waiting_since is not None else 0.0)
    return {"waiting": None, "waiting_since": None, "waited_s": waited}


def settle(leg: Leg, job_id: str) -> None:
    """After a reservation whose job did not start: give the bytes back if the job ended meanwhile."""
    if leg.storage is None:
        return
    job = leg.store.get(job_id)
    if job is None or job.state in _NO_FILE:
        leg.storage.release(job_id)


@dataclass
class FileLife:
    """Expiry and release of counted files; see the module docstring. Safe to run from many processes."""

    store: JobStore
    budget: StorageBudget
    files: Files
    clock: Callable[[], float]

    def sweep(self) -> tuple[int, int]:
        """Returns (jobs that became EXPIRED, jobs whose bytes were released)."""
        now = self.clock()
        expired = 0
        for job_id in self.budget.expiring(now):
            try:
                self.store.transition(job_id, Event.EXPIRE, expect=State.ACTIVE, expired_at=now)
                expired += 1
                log.info("job_expired", extra={"fields": {"jobId": job_id}})
            except (StaleJob, IllegalTransition, JobNotFound):
                pass  # not ACTIVE any more (or its record is gone): the loop below settles its bytes
        released = 0
        for job_id in self.budget.held():
            job = self.store.get(job_id)
            if job is None:
                end = self.budget.expires_at(job_id)
                if end is None or end <= now:  # the record is gone (FOCALPOINT_JOB_TTL); so is the file by now
                    self.budget.release(job_id)
                    released += 1
            elif job.state in _NO_FILE and self.drop(job):
                released += 1
        return expired, released

    def drop(self, job: Job) -> bool:
        """Delete the job's Gemini file, then release its bytes. False when the delete failed transiently."""
        if job.gemini_file_name and job.state in (State.EXPIRED, State.DELETED):
            try:
                self.files.delete(job.gemini_file_name)  # missing_ok: gone by itself or by an earlier run
            except GeminiTransient as exc:
                log.warning("gemini_delete_failed", extra={"fields": {"jobId": job.job_id, "error": str(exc)}})
                return False
            except GeminiError as exc:  # refused for good: nothing more we can do; Gemini ends it at 48 h
                log.warning("gemini_delete_refused", extra={"fields": {"jobId": job.job_id, "error": str(exc)}})
        self.budget.release(job.job_id)
        return True
