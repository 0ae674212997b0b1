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
  the job's budget until a chunk makes progress, so crash loops end too. The run itself is
  ``actors.upload_run``; this module takes the storage budget, the upload slot and the lease around it.
- ``poll``: one ``files.get`` per run; PROCESSING -> ACTIVE or FAILED, or another poll later, until the job's
  deadline (``processing_timeout``); see ``actors.poll``.
- Before ACTIVE, Gemini's sha256 of the file is compared with the spool's (``actors.reupload``).
- Before an upload starts, the job's bytes are reserved in the Gemini storage budget; without room it waits
  as SPOOLED (``actors.storage``).
- ``stream``: stream-through, while a resumable upload still spools: forwards its durable bytes to Gemini in
  short runs, each holding a slot only while it sends (``actors.stream``). The upload after completion goes on
  from Gemini's offset.
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
from typing import Literal

from focalpoint_upload.actors import poll as polling
from focalpoint_upload.actors import stream as streaming
from focalpoint_upload.actors import upload_run
from focalpoint_upload.actors.cleanup import abandon, forget_remote
from focalpoint_upload.actors.policy import Uniform
from focalpoint_upload.actors.ports import Alerts, Files, Lease, RemoteFile, Scheduler, Slots, Uploader
from focalpoint_upload.actors.storage import RECHECK_S, FileLife, admit, settle, started_fields
from focalpoint_upload.config import Settings
from focalpoint_upload.gemini.errors import GeminiTransient
from focalpoint_upload.gemini.translate import public_message
from focalpoint_upload.jobs import ErrorCode, Event, IllegalTransition, Job, JobNotFound, JobStore, StaleJob, State
from focalpoint_upload.jobs.codes import failure
from focalpoint_upload.jobs.storage import StorageBudget

log = logging.getLogger("focalpoint.actors")
NO_SLOT_DELAY_S = (2.0, 6.0)
Kind = Literal["upload", "poll"]


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
    stream_batch: int | None = None  # stream-through sends once this many new bytes are durable (None: a chunk)

    @property
    def stream_batch_bytes(self) -> int:
        return self.stream_batch if self.stream_batch is not None else self.settings.gemini_chunk_bytes

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
                    # A streamed job's holder is usually a stream run about to hand over: look again soon, and
                    # less and less often the longer ago the last byte came (a dead stream run's lease lapses).
                    ttl_wait = self.lease.ttl_s * self.uniform(1.0, 1.5)
                    wait = ttl_wait
                    if job.streaming:
                        since = self.clock() - (job.last_byte_at or 0.0)
                        wait = min(ttl_wait, max(self.uniform(*streaming.BUSY_DELAY_S), since / 4))
                    self._next(job_id, gen, "upload", wait)
                    return
                upload_run.run(self, job_id, gen, lease)

    # --- stream-through ---------------------------------------------------------------------------------------
    def stream(self, job_id: str, gen: int = 0) -> None:
        streaming.forward(self, job_id, gen)

    # --- poll -----------------------------------------------------------------------------------------------
    def poll(self, job_id: str, gen: int = 0) -> None:
        polling.poll(self, job_id, gen)

    def _follow(self, job: Job, remote: RemoteFile, gen: int) -> None:
        polling.follow(self, job, remote, gen)

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

    def _fail(self, job: Job, code: ErrorCode, message: str | None = None, *, detail: str | None = None) -> None:
        """FAILED with ``code`` and ``message`` for clients (None: the code's own sentence; whether it is retryable
        is the code's); ``detail`` (Gemini's own text) goes to the log line only."""
        fields = failure(code, message)
        try:
            failed = self.store.transition(job.job_id, Event.FAIL, **fields)
        except (StaleJob, IllegalTransition, JobNotFound):
            return  # someone else ended the job first; only the one who ends it alerts
        log.error("job_failed", extra={"fields": {"jobId": failed.job_id, "attemptId": failed.attempt_id,
                                                  "stage": str(job.state), "code": str(code),
                                                  "message": fields["error_message"], "detail": detail}})
        self.alerts.job_failed(failed.job_id, failed.attempt_id, str(job.state), code, fields["error_message"])

