"""Stream-through: forward a resumable upload's durable bytes to Gemini while the client is still sending.

The front door starts it once a resumable upload has its first durable bytes (``frontdoor.stream``): the job
gets ``streaming`` (event STREAM_STARTED, which keeps SPOOLING) and one ``stream`` message. Each message is one
short run, with the message-generation guard of ``actors.leg``:

- the job is final (the ingest was cancelled, aborted or expired): its Gemini session is cancelled. A stream
  never finalises, so no Gemini file exists yet; ``actors.cleanup.abandon`` deletes one anyway if named.
- the job left SPOOLING (the last byte arrived): nothing. The front door's upload message carries on through
  ``actors.upload_run``: it queries the stored session, sends the tail from Gemini's offset and finalises. A
  run that notices the completion itself sends that upload at once (:func:`_hand_over`), so the upload does
  not wait out the delay of a message that met our lease.
- fewer new durable bytes than one chunk: the next message after a short delay, with no slot, lease or Gemini
  call. The delay grows while the client sends nothing (up to :data:`IDLE_RECHECK_MAX_S`).
- otherwise, holding an upload slot and the job's lease: open (or query) the session and send whole granules
  below ``bytesReceived`` -- the durable offset in the record, never the file's size --, never the last byte.
  Once caught up (``gemini.errors.CaughtUp``) the slot and lease are released *before* the next message is
  sent: no thread and no slot waits for a slow client.

The bytes are read from the ``.part`` file, or from the final spool if the last append renamed it already (an
open file keeps reading across the rename). Gemini's offset is saved as ``bytes_uploaded`` after every chunk;
after any crash the next run (this chain's redelivered message, or the upload after completion) queries the
session and goes on from Gemini's offset. Failures here never fail the job: the stream stops or retries, and
the upload after completion is the one that judges Gemini's errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from focalpoint_upload.actors.policy import retry_delay
from focalpoint_upload.actors.upload_run import LeaseLost, PauseUpload
from focalpoint_upload.gemini.errors import CaughtUp, GeminiPermanent, GeminiTransient, SessionGone
from focalpoint_upload.jobs import Job, JobNotFound, StaleJob, State
from focalpoint_upload.jobs.lease import LeaseHandle

if TYPE_CHECKING:
    from focalpoint_upload.actors.leg import Leg

log = logging.getLogger("focalpoint.actors")
NO_SLOT_DELAY_S = (1.0, 3.0)
BUSY_DELAY_S = (0.2, 0.5)  # another run holds the job's lease: usually a stream run about to hand over
IDLE_RECHECK_MAX_S = 30.0  # a client that sends nothing is looked at no more often than this


class Outcome(Enum):
    CAUGHT_UP = "caught_up"  # Gemini has every durable granule: look again after a short delay
    AGAIN = "again"  # paused (slice, shutdown) or a transient failure: another run (``delay`` says when)
    HANDED_OVER = "handed_over"  # the job left SPOOLING: the upload chain goes on from Gemini's offset
    ENDED = "ended"  # the job is final: let the session go
    STOPPED = "stopped"  # another run took the job's lease over: its chain goes on, this one ends


def forward(leg: Leg, job_id: str, gen: int) -> None:
    """One ``stream`` message for ``job_id`` (see the module docstring)."""
    job = leg.store.get(job_id)
    if job is None or job.msg_gen != gen:
        return
    if job.final:
        leg._abandon(job_id)
        return
    if job.state != State.SPOOLING or not leg.settings.stream_through:
        return
    if _pending(leg, job) < leg.stream_batch_bytes:
        _again(leg, job_id, gen, _idle_delay(leg, job))
        return
    if leg.storage is not None and not leg.storage.reserve(job_id, job.bytes_total or 0):
        _again(leg, job_id, gen, leg.uniform(*leg.storage_recheck_s))  # no room: the upload will wait for it
        return
    delay = 0.0
    with leg.slots.hold() as got_slot:
        if not got_slot:
            outcome, delay = Outcome.AGAIN, leg.uniform(*NO_SLOT_DELAY_S)
        else:
            with leg.lease.hold(job_id) as lease:
                if lease is None:
                    outcome, delay = Outcome.AGAIN, leg.uniform(*BUSY_DELAY_S)
                else:
                    outcome, delay = _send(leg, job, lease)
    # The slot and the lease are free again before anything waits.
    if outcome is Outcome.CAUGHT_UP:
        _again(leg, job_id, gen, leg.settings.stream_recheck_s)
    elif outcome is Outcome.AGAIN:
        _again(leg, job_id, gen, delay)
    elif outcome is Outcome.ENDED:
        leg._abandon(job_id)
    elif outcome is Outcome.HANDED_OVER:
        _hand_over(leg, job_id)


def _hand_over(leg: Leg, job_id: str) -> None:
    """The upload completed during our run: send the upload at once. Its message (the front door's) may have
    met our lease and be waiting out a short delay; a new generation makes that one stale, so this never forks
    (an upload run that started meanwhile only finds its own next message stale, and ours resumes its work)."""
    job = leg.store.get(job_id)
    if job is not None and job.state in (State.SPOOLED, State.UPLOADING):
        leg._next(job_id, job.msg_gen, "upload")


def _send(leg: Leg, job: Job, lease: LeaseHandle) -> tuple[Outcome, float]:
    job_id, total = job.job_id, job.bytes_total or 0
    fresh = leg.store.get(job_id)  # read under the lease: a run before ours may have saved a session meanwhile
    if fresh is None or fresh.state != State.SPOOLING:
        return _after_leaving_spooling(leg, job_id), 0.0
    job = fresh
    try:
        leg.uploader.upload(
            _spool_file(job), total, job.mime_type or "application/octet-stream", job.file_name,
            job.gemini_upload_url, save_session=lambda url: _save_session(leg, job_id, url),
            save_progress=_progress_saver(leg, job_id, lease), limit=lambda: _durable(leg, job_id))
    except CaughtUp:
        return Outcome.CAUGHT_UP, 0.0
    except PauseUpload:
        return Outcome.AGAIN, 0.0
    except (StaleJob, JobNotFound):
        return _after_leaving_spooling(leg, job_id), 0.0
    except LeaseLost:
        return Outcome.STOPPED, 0.0
    except SessionGone:
        _forget_session(leg, job_id)
        return Outcome.AGAIN, leg.settings.stream_recheck_s
    except GeminiTransient as exc:
        log.warning("gemini_transient", extra={"fields": {"jobId": job_id, "error": str(exc), "stage": "stream"}})
        return Outcome.AGAIN, retry_delay(1, exc.retry_after, leg.uniform)
    except (GeminiPermanent, OSError, ValueError) as exc:
        # The job may have ended (its .part removed) or completed; else the upload after completion retries
        # from Gemini's offset and judges the error itself.
        outcome = _after_leaving_spooling(leg, job_id)
        if outcome is Outcome.STOPPED:  # look again much later: the chain stays, to let go of it if it ends
            log.warning("stream_paused", extra={"fields": {"jobId": job_id, "error": str(exc)}})
            return Outcome.AGAIN, IDLE_RECHECK_MAX_S
        return outcome, 0.0
    return Outcome.HANDED_OVER, 0.0  # a final session: only if someone else finalised it; the upload will see


def _after_leaving_spooling(leg: Leg, job_id: str) -> Outcome:
    job = leg.store.get(job_id)
    if job is None or job.final:
        return Outcome.ENDED
    return Outcome.STOPPED if job.state == State.SPOOLING else Outcome.HANDED_OVER


def _spool_file(job: Job) -> Path:
    """The ``.part`` while the upload spools; the final spool once the last append renamed it."""
    part = Path(f"{job.spool_path}.part")
    return part if part.exists() else Path(job.spool_path or "")


def _pending(leg: Leg, job: Job) -> int:
    """Durable bytes Gemini does not have yet, short of the last byte (which goes with the finalize)."""
    return min(job.bytes_received, (job.bytes_total or 0) - 1) - job.bytes_uploaded


def _durable(leg: Leg, job_id: str) -> int:
    """The uploader's ``limit``: the durable offset now; a job that left SPOOLING ends the stream run."""
    job = leg.store.get(job_id)
    if job is None or job.state != State.SPOOLING:
        raise StaleJob(job_id, State.SPOOLING, job.state if job else "gone")
    return job.bytes_received


def _progress_saver(leg: Leg, job_id: str, lease: LeaseHandle) -> Callable[[int], None]:
    stop_at = leg.monotonic() + leg.slice_s

    def save(offset: int) -> None:
        if lease.lost.is_set():
            raise LeaseLost
        leg.store.update(job_id, expect=State.SPOOLING, bytes_uploaded=offset)
        if leg.monotonic() > stop_at or leg.stopping.is_set():
            raise PauseUpload

    return save


def _save_session(leg: Leg, job_id: str, url: str) -> None:
    """Stored before any byte is sent. Also on a job that completed meanwhile (SPOOLED, no session yet): its
    upload, which needs the lease we hold, then continues this session instead of opening a second one."""
    def change(job: Job) -> Job:
        if job.state == State.SPOOLING or (job.state == State.SPOOLED and job.gemini_upload_url is None):
            return job.with_(gemini_upload_url=url)
        raise StaleJob(job_id, State.SPOOLING, job.state)

    leg.store.modify(job_id, change)


def _forget_session(leg: Leg, job_id: str) -> None:
    try:
        leg.store.update(job_id, expect=State.SPOOLING, gemini_upload_url=None, bytes_uploaded=0)
    except (StaleJob, JobNotFound):
        pass


def _idle_delay(leg: Leg, job: Job) -> float:
    """The recheck delay, longer the longer the client has sent nothing (a tenth of its silence)."""
    silent = max(0.0, leg.clock() - job.ingest_progress_at)
    return min(IDLE_RECHECK_MAX_S, max(leg.settings.stream_recheck_s, silent / 10))


def _again(leg: Leg, job_id: str, gen: int, delay_s: float) -> None:
    """The chain's next message, only while the job spools and ``gen`` is its live generation. A job that
    completed keeps its generation: the front door's upload message, sent with it, is the live one."""
    def bump(job: Job) -> Job:
        if job.msg_gen != gen or job.state != State.SPOOLING:
            raise StaleJob(job_id, f"gen {gen}", f"gen {job.msg_gen} {job.state}")
        return job.with_(msg_gen=gen + 1, due_at=leg.clock() + delay_s)

    try:
        job = leg.store.modify(job_id, bump)
    except (StaleJob, JobNotFound):
        # Ended between our last look and now (a cancel or an expiry racing this run): no message will come
        # for it, so let the session go here. A completed job is the upload's; another generation, its chain's.
        ended = leg.store.get(job_id)
        if ended is not None and ended.final and ended.msg_gen == gen:
            leg._abandon(job_id)
        return
    leg.schedule.stream(job_id, job.msg_gen, delay_s)
