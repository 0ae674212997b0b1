"""One upload run of the leg: the bytes of an UPLOADING job to Gemini, for at most one slice.

Called by :meth:`actors.leg.Leg.upload` with the job's upload slot and lease held. The run counts against the
job's retry budget when it starts (``attempts``), and any chunk that makes progress starts the budget afresh,
so crash loops end too. It ends in one of:

- the file exists: UPLOADING -> PROCESSING, then :func:`actors.poll.follow` (ACTIVE, a poll, or a reupload);
- the slice is over or the worker is stopping (:class:`PauseUpload`): the next run continues at the offset
  Gemini kept;
- a transient failure: noted on the job, next run after a back-off; a lost session is forgotten first;
- a permanent failure, a missing or short spool: FAILED;
- the job was cancelled or failed meanwhile: the session (and a cancelled job's file and spool) let go;
- the lease was taken over (:class:`LeaseLost`): nothing, the run that took it keeps the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from focalpoint_upload.actors.policy import budget_spent, exhausted_message, retry_delay
from focalpoint_upload.gemini.errors import FileTooShort, GeminiPermanent, GeminiTransient, SessionGone
from focalpoint_upload.gemini.translate import public_message
from focalpoint_upload.jobs import ErrorCode, Event, IllegalTransition, Job, JobNotFound, StaleJob, State
from focalpoint_upload.jobs.lease import LeaseHandle

if TYPE_CHECKING:
    from focalpoint_upload.actors.leg import Leg


class PauseUpload(Exception):
    """Raised from the progress callback to end the run early and continue in a new message."""


class LeaseLost(Exception):
    """Our lease expired and another run took the job over: stop without sending anything."""


def run(leg: Leg, job_id: str, gen: int, lease: LeaseHandle) -> None:
    """Upload for at most ``leg.slice_s``; see the module docstring for how it ends."""
    try:
        job = leg.store.modify(job_id, count_run(State.UPLOADING))
    except (StaleJob, JobNotFound, IllegalTransition):
        return
    if budget_spent(job.attempts, leg.settings.gemini_retry_budget):
        leg._fail(job, ErrorCode.GEMINI_UNAVAILABLE, exhausted_message(job.attempts, job.last_error))
        return
    path = Path(job.spool_path or "")
    try:
        size = job.bytes_total if job.bytes_total is not None else path.stat().st_size
        remote = leg.uploader.upload(
            path, size, job.mime_type or "application/octet-stream", job.file_name, job.gemini_upload_url,
            save_session=lambda url: _save_session(leg, job_id, url),
            save_progress=progress_saver(leg, job_id, lease, job.bytes_uploaded, size))
    except PauseUpload:
        leg._next(job_id, gen, "upload")
        return
    except (StaleJob, JobNotFound):
        leg._abandon(job_id)  # cancelled or failed while we uploaded
        return
    except LeaseLost:
        return
    except FileNotFoundError:
        leg._fail(job, ErrorCode.SPOOL_MISSING)
        return
    except FileTooShort:  # the spool holds fewer bytes than the job received: it is damaged
        leg._fail(job, ErrorCode.SPOOL_DAMAGED)
        return
    except SessionGone as exc:
        # Lost twice in one run: start afresh in a later run with a new session (counts against the budget).
        _forget_session(leg, job_id)
        _later(leg, job, gen, GeminiTransient(str(exc), None))
        return
    except OSError as exc:  # reading the spool (e.g. a shared volume's hiccup): try again later
        _later(leg, job, gen, GeminiTransient(f"reading the spool: {exc.strerror}", None))
        return
    except GeminiPermanent as exc:
        leg._fail(job, ErrorCode(exc.code), public_message(exc), detail=exc.message)
        return
    except GeminiTransient as exc:
        _later(leg, job, gen, exc)
        return
    try:
        job = leg.store.transition(
            job_id, Event.UPLOAD_FINISHED, expect=State.UPLOADING, gemini_file_name=remote.name,
            gemini_file_uri=remote.uri, gemini_expires_at=remote.expiration_time, bytes_uploaded=size,
            gemini_upload_url=None, attempts=0, last_error=None, polls=0,
            deadline_at=leg.clock() + leg.settings.gemini_processing_deadline_s)
    except (StaleJob, IllegalTransition, JobNotFound):
        leg._abandon(job_id, remote.name)
        return
    leg._follow(job, remote, gen)


def progress_saver(leg: Leg, job_id: str, lease: LeaseHandle, start: int, size: int) -> Callable[[int], None]:
    """The uploader's ``save_progress``: records Gemini's offset, resets the budget on progress, and ends the
    run (:class:`PauseUpload`) once the slice is over or the worker stops, or (:class:`LeaseLost`) when the
    lease is gone. A cancelled job makes the update raise :class:`StaleJob`, which stops the upload too."""
    stop_at = leg.monotonic() + leg.slice_s
    best = start

    def save(offset: int) -> None:
        nonlocal best
        if lease.lost.is_set():
            raise LeaseLost
        changes: dict[str, object] = {"bytes_uploaded": offset}
        if offset > best:  # progress: the run was worth it, the budget starts afresh
            best = offset
            changes.update(attempts=0, last_error=None)
        leg.store.update(job_id, expect=State.UPLOADING, **changes)
        if offset < size and (leg.monotonic() > stop_at or leg.stopping.is_set()):
            raise PauseUpload

    return save


def count_run(state: State) -> Callable[[Job], Job]:
    """The change that counts one more run without progress, if the job is still in ``state``."""
    def change(job: Job) -> Job:
        if job.state != state:
            raise StaleJob(job.job_id, state, job.state)
        return job.with_(attempts=job.attempts + 1)

    return change


def _later(leg: Leg, job: Job, gen: int, exc: GeminiTransient) -> None:
    """A transient failure: note it on the job and send the next run after a back-off (this run counted)."""
    leg._note_transient(job.job_id, State.UPLOADING, exc)
    leg._next(job.job_id, gen, "upload", retry_delay(job.attempts, exc.retry_after, leg.uniform))


def _save_session(leg: Leg, job_id: str, url: str) -> None:
    leg.store.update(job_id, expect=State.UPLOADING, gemini_upload_url=url)


def _forget_session(leg: Leg, job_id: str) -> None:
    try:
        leg.store.update(job_id, expect=State.UPLOADING, gemini_upload_url=None, bytes_uploaded=0)
    except (StaleJob, JobNotFound):
        pass
