"""The Gemini leg: what the actors do, as plain methods over the job store and the Gemini ports.

Every method is idempotent and safe to run twice at once (Dramatiq delivers at least once). Two guards:

- *One live message per job.* Each message carries the job's message generation (``msg_gen``); sending the
  next message bumps it with a compare-and-set (:meth:`Leg._next`), and a message whose generation is not the
  job's current one is dropped on arrival. So re-sends (the sweeper's, a redelivery racing a retry) never
  multiply into parallel chains.
- *One uploader per job.* An upload run holds the job's lease (``jobs.lease``), renewed with every chunk.

No method sleeps or loops waiting for Gemini: waiting is a delayed message.

- ``upload``: SPOOLED -> UPLOADING -> PROCESSING. Uploads for at most ``slice_s`` per run, then sends itself
  again; resumes from the server's offset (the uploader queries the stored session). Every run counts against
  the job's budget until a chunk makes progress, so crash loops end too.
- ``poll``: one ``files.get`` per run; PROCESSING -> ACTIVE or FAILED, or another poll later, until the job's
  deadline (``processing_timeout``).
- Before ACTIVE, Gemini's sha256 of the file is compared with the spool's (``actors.reupload``).
- Before an upload starts, the job's bytes are reserved in the Gemini storage budget; without room it waits
  as SPOOLED (``actors.storage``).
- ``cancel``: cleans up after a CANCELLED job (Gemini session, Gemini file, spool), and deletes a DELETED
  job's Gemini file (then its space is free).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from actors import reupload
from actors.cleanup import abandon, forget_remote, remove_spool
from actors.policy import Uniform, budget_spent, poll_delay, retry_delay
from actors.ports import Alerts, Files, Lease, RemoteFile, Scheduler, Slots, Uploader
from actors.storage import RECHECK_S, FileLife, admit, settle, started_fields
from config import Settings
from gemini import integrity
from gemini.errors import GeminiPermanent, GeminiTransient, SessionGone
from gemini.translate import PROCESSING_FAILED, public_message
from jobs import Event, IllegalTransition, Job, JobNotFound, JobStore, StaleJob, State
from jobs.lease import LeaseHandle
from jobs.storage import StorageBudget

log = logging.getLogger("focalpoint.actors")
NO_SLOT_DELAY_S = (2.0, 6.0)
Kind = Literal["upload", "poll"]


class PauseUpload(Exception):
    """Raised from the progress callback to end the run early and continue in a new message."""


class LeaseLost(Exception):
    """Our lease expired and another run took the job over: stop without sending anything."""


@dataclass
class Leg:
    settings: Settings
    store: JobStore
    uploader: Uploader
    files: Files
    schedule: Scheduler
    slots: Slots
    lease: Lease
    alerts: Alerts
    clock: Callable[[], float]
    slice_s: float = 300.0
    uniform: Uniform = random.uniform
    monotonic: Callable[[], float] = time.monotonic
    stopping: threading.Event = field(default_factory=threading.Event)  # set on shutdown: runs pause
    storage: StorageBudget | None = None  # the Gemini storage budget (None: no budget, as in some unit tests)
    storage_recheck_s: tuple[float, float] = RECHECK_S  # a job waiting for storage looks again after
    on_storage_wait: Callable[[], None] | None = None  # told when a job begins to wait (a metric)

    # --- messages -------------------------------------------------------------------------------------------
    def _next(self, job_id: str, gen: int, kind: Kind, delay_s: float = 0.0) -> None:
        """Send the job's next message if ``gen`` is still its live generation (else another chain owns it)."""
        def bump(job: Job) -> Job:
            if job.msg_gen != gen or job.final:
                raise StaleJob(job_id, f"gen {gen}", f"gen {job.msg_gen} {job.state}")
            return job.with_(msg_gen=gen + 1, polls=job.polls + (1 if kind == "poll" else 0),
                             due_at=self.clock() + delay_s)

        try:
            job = self.store.modify(job_id, bump)
        except (StaleJob, JobNotFound):
            return
        if kind == "upload":
            self.schedule.upload(job_id, job.msg_gen, delay_s)
        else:
            self.schedule.poll(job_id, job.msg_gen, delay_s)

    def resend(self, job_id: str) -> bool:
        """Start a fresh message chain for a job whose message was lost (sweeper, retry). True if one was sent."""
        job = self.store.get(job_id)
        if job is None:
            return False
        kind: Kind | None = {State.SPOOLED: "upload", State.UPLOADING: "upload", State.PROCESSING: "poll"}.get(
            job.state)  # type: ignore[assignment]
        if kind is None:
            return False
        self._next(job_id, job.msg_gen, kind)
        return True

    # --- upload ---------------------------------------------------------------------------------------------
    def upload(self, job_id: str, gen: int = 0) -> None:
        job = self.store.get(job_id)
        if job is None or job.final or job.msg_gen != gen:
            return
        if job.state == State.SPOOLED:
            if not admit(self, job, gen):
                return  # waiting for room in the Gemini storage budget (or failed waiting)
            try:
                job = self.store.transition(job_id, Event.UPLOAD_STARTED, expect=State.SPOOLED,
                                            **started_fields(job, self.clock()))
            except (StaleJob, IllegalTransition):
                settle(self, job_id)
                return
        if job.state == State.PROCESSING:
            self._next(job_id, gen, "poll")  # redelivered after the upload finished: make sure polling runs
            return
        if job.state != State.UPLOADING:
            return
        with self.slots.hold() as got_slot:
            if not got_slot:
                self._next(job_id, gen, "upload", self.uniform(*NO_SLOT_DELAY_S))
                return
            with self.lease.hold(job_id) as lease:
                if lease is None:
                    # Another run holds the job: alive (it keeps the chain going) or dead (its lease lapses
                    # within a ttl). Look again after that; if the live run re-sends first, this one is stale.
                    self._next(job_id, gen, "upload", self.lease.ttl_s * self.uniform(1.0, 1.5))
                    return
                self._upload_run(job_id, gen, lease)

    def _upload_run(self, job_id: str, gen: int, lease: LeaseHandle) -> None:
        try:
            job = self.store.modify(job_id, _count_run(State.UPLOADING))
        except (StaleJob, JobNotFound, IllegalTransition):
            return
        if budget_spent(job.attempts, self.settings.gemini_retry_budget):
            self._fail(job, "gemini_unavailable", _exhausted(job), retryable=True)
            return
        path = Path(job.spool_path or "")
        try:
            size = job.bytes_total if job.bytes_total is not None else path.stat().st_size
            remote = self.uploader.upload(
                path, size, job.mime_type or "application/octet-stream", job.file_name, job.gemini_upload_url,
                save_session=lambda url: self._save_session(job_id, url),
                save_progress=self._progress_saver(job_id, lease, job.bytes_uploaded, size))
        except PauseUpload:
            self._next(job_id, gen, "upload")
            return
        except (StaleJob, JobNotFound):
            self._abandon(job_id)  # cancelled or failed while we uploaded
            return
        except LeaseLost:
            return
        except FileNotFoundError:
            self._fail(job, "spool_missing", "The spooled file is gone; upload the file again.", retryable=False)
            return
        except ValueError:  # the uploader found the spool shorter than the job says: it is damaged
            self._fail(job, "spool_damaged", "The spooled file is shorter than uploaded; upload the file again.",
                       retryable=False)
            return
        except SessionGone as exc:
            # Lost twice in one run: start afresh in a later run with a new session (counts against the budget).
            self._forget_session(job_id)
            self._upload_later(job, gen, GeminiTransient(str(exc), None))
            return
        except OSError as exc:  # reading the spool (e.g. a shared volume's hiccup): try again later
            self._upload_later(job, gen, GeminiTransient(f"reading the spool: {exc.strerror}", None))
            return
        except GeminiPermanent as exc:
            self._fail(job, exc.code, public_message(exc), retryable=False, detail=exc.message)
            return
        except GeminiTransient as exc:
            self._upload_later(job, gen, exc)
            return
        try:
            job = self.store.transition(
                job_id, Event.UPLOAD_FINISHED, expect=State.UPLOADING, gemini_file_name=remote.name,
                gemini_file_uri=remote.uri, gemini_expires_at=remote.expiration_time, bytes_uploaded=size,
                gemini_upload_url=None, attempts=0, last_error=None, polls=0,
                deadline_at=self.clock() + self.settings.gemini_processing_deadline_s)
        except (StaleJob, IllegalTransition, JobNotFound):
            self._abandon(job_id, remote.name)
            return
        self._follow(job, remote, gen)

    def _upload_later(self, job: Job, gen: int, exc: GeminiTransient) -> None:
        """A transient failure: note it on the job and send the next run after a back-off (this run counted)."""
        self._note_transient(job.job_id, State.UPLOADING, exc)
        self._next(job.job_id, gen, "upload", retry_delay(job.attempts, exc.retry_after, self.uniform))

    def _forget_session(self, job_id: str) -> None:
        try:
            self.store.update(job_id, expect=State.UPLOADING, gemini_upload_url=None, bytes_uploaded=0)
        except (StaleJob, JobNotFound):
            pass

    def _save_session(self, job_id: str, url: str) -> None:
        self.store.update(job_id, expect=State.UPLOADING, gemini_upload_url=url)

    def _progress_saver(self, job_id: str, lease: LeaseHandle, start: int, size: int) -> Callable[[int], None]:
        stop_at = self.monotonic() + self.slice_s
        best = start

        def save(offset: int) -> None:
            nonlocal best
            if lease.lost.is_set():
                raise LeaseLost
            changes: dict[str, object] = {"bytes_uploaded": offset}
            if offset > best:  # progress: the run was worth it, the budget starts afresh
                best = offset
                changes.update(attempts=0, last_error=None)
            self.store.update(job_id, expect=State.UPLOADING, **changes)
            if offset < size and (self.monotonic() > stop_at or self.stopping.is_set()):
                raise PauseUpload

        return save

    # --- poll -----------------------------------------------------------------------------------------------
    def poll(self, job_id: str, gen: int = 0) -> None:
        job = self.store.get(job_id)
        if job is None or job.state != State.PROCESSING or job.msg_gen != gen or not job.gemini_file_name:
            return
        if job.discard_file:  # a mismatched file was being deleted when the last run ended: finish that
            reupload.finish(self, job, gen)
            return
        try:
            remote = self.files.get(job.gemini_file_name)
        except GeminiPermanent as exc:
            self._fail(job, exc.code, public_message(exc), retryable=False, detail=exc.message)
            return
        except GeminiTransient as exc:
            noted = self._note_transient(job_id, State.PROCESSING, exc, count=True)
            if noted is not None and budget_spent(noted.attempts, self.settings.gemini_retry_budget):
                self._fail(noted, "gemini_unavailable", _exhausted(noted), retryable=True)
                return
            failures = noted.attempts if noted is not None else 1
            self._next(job_id, gen, "poll", max(poll_delay(job.polls, self.uniform),
                                                retry_delay(failures, exc.retry_after, self.uniform)))
            return
        if remote.state == "PROCESSING" and job.deadline_at is not None and self.clock() > job.deadline_at:
            # Only a file still PROCESSING is late: a poll that itself ran late must not fail an ACTIVE file.
            self._fail(job, "processing_timeout", "Gemini did not finish processing the file in time.",
                       retryable=True)
            self._forget_remote(job.gemini_file_name)
            return
        self._follow(job, remote, gen)

    def _follow(self, job: Job, remote: RemoteFile, gen: int) -> None:
        """Act on the Gemini file's state after an upload or a poll."""
        if remote.state == "ACTIVE":
            checked = integrity.verdict(job.sha256, remote.sha256_hex)
            if checked is integrity.Verdict.MISMATCH:
                reupload.on_mismatch(self, job, remote, gen)
                return
            try:
                done = self.store.transition(
                    job.job_id, Event.FILE_ACTIVE, expect=State.PROCESSING, gemini_file_uri=remote.uri,
                    gemini_expires_at=remote.expiration_time or job.gemini_expires_at, attempts=0, last_error=None,
                    sha256_verified=checked is integrity.Verdict.MATCH)
            except (StaleJob, IllegalTransition, JobNotFound):
                return
            log.info("job_active", extra={"fields": {"jobId": done.job_id, "attemptId": done.attempt_id,
                                                     "fileName": remote.name}})
            if self.settings.spool_retention_active_s <= 0:
                remove_spool(done.spool_path)
        elif remote.state == "FAILED":
            self._fail(job, PROCESSING_FAILED, public_message(PROCESSING_FAILED), retryable=False,
                       detail=remote.error_message or "no reason given")
            self._forget_remote(remote.name)
        else:
            self._next(job.job_id, gen, "poll", poll_delay(job.polls, self.uniform))

    # --- cancel and failure ---------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> None:
        """Clean up after a CANCELLED job, or delete a DELETED job's Gemini file and release its space."""
        job = self.store.get(job_id)
        if job is not None and job.state == State.DELETED and self.storage is not None:
            FileLife(self.store, self.storage, self.files, self.clock).drop(job)  # or the sweeper's
            return
        if job is None or job.state != State.CANCELLED:
            return
        self._abandon(job_id)

    def _abandon(self, job_id: str, remote_name: str | None = None) -> None:
        abandon(self.store, self.uploader, self.files, job_id, remote_name)

    def _forget_remote(self, name: str) -> None:
        forget_remote(self.files, name)

    def _note_transient(self, job_id: str, state: State, exc: GeminiTransient, count: bool = False) -> Job | None:
        """Record a transient failure on the job (``count``: it also spends budget; upload runs count at start)."""
        log.warning("gemini_transient", extra={"fields": {"jobId": job_id, "error": str(exc)}})

        def change(job: Job) -> Job:
            if job.state != state:
                raise StaleJob(job_id, state, job.state)
            # The public status shows our sentence; Gemini's own text is in the warning above only.
            return job.with_(last_error=public_message(exc), attempts=job.attempts + (1 if count else 0))

        try:
            return self.store.modify(job_id, change)
        except (StaleJob, JobNotFound):
            return None

    def _fail(self, job: Job, code: str, message: str, *, retryable: bool, detail: str | None = None) -> None:
        """FAILED with ``message`` for clients; ``detail`` (Gemini's own text) goes to the log line only."""
        try:
            failed = self.store.transition(job.job_id, Event.FAIL, error_code=code, error_message=message,
                                           error_retryable=retryable)
        except (StaleJob, IllegalTransition, JobNotFound):
            return  # someone else ended the job first; only the one who ends it alerts
        log.error("job_failed", extra={"fields": {"jobId": failed.job_id, "attemptId": failed.attempt_id,
                                                  "stage": str(job.state), "code": code, "message": message,
                                                  "detail": detail}})
        self.alerts.job_failed(failed.job_id, failed.attempt_id, str(job.state), code, message)


def _count_run(state: State) -> Callable[[Job], Job]:
    def change(job: Job) -> Job:
        if job.state != state:
            raise StaleJob(job.job_id, state, job.state)
        return job.with_(attempts=job.attempts + 1)

    return change


def _exhausted(job: Job) -> str:
    why = "" if job.last_error else " The upload stopped repeatedly without progress."
    return f"Gemini could not be reached after {job.attempts - 1} tries; retry the job later.{why}"

