"""Following a Gemini file after its upload: one ``files.get`` per poll message, until ACTIVE or FAILED.

- :func:`poll` -- a PROCESSING job's poll message. A transient failure counts against the job's retry budget
  and polls again after the longer of the poll and retry back-offs. Only a file still PROCESSING past the
  job's ``deadline_at`` fails it (``processing_timeout``): a poll that itself ran late must not fail a file
  that has been ACTIVE all along.
- :func:`follow` -- acts on the file's state, after an upload or a poll: ACTIVE is checked against the spool's
  sha256 first (a mismatch goes to ``actors.reupload``), FAILED fails the job and deletes the file, anything
  else polls again later.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from focalpoint_upload.actors import reupload
from focalpoint_upload.actors.policy import budget_spent, exhausted_message, poll_delay, retry_delay
from focalpoint_upload.actors.ports import RemoteFile
from focalpoint_upload.gemini import integrity
from focalpoint_upload.gemini.errors import GeminiPermanent, GeminiTransient
from focalpoint_upload.gemini.translate import public_message
from focalpoint_upload.jobs import ErrorCode, Event, IllegalTransition, Job, JobNotFound, StaleJob, State
from focalpoint_upload.jobs.spool import Spool

if TYPE_CHECKING:
    from focalpoint_upload.actors.leg import Leg

log = logging.getLogger("focalpoint.actors")


def poll(leg: Leg, job_id: str, gen: int) -> None:
    job = leg.store.get(job_id)
    if job is None or job.state != State.PROCESSING or job.msg_gen != gen or not job.gemini_file_name:
        return
    if job.discard_file:  # a mismatched file was being deleted when the last run ended: finish that
        reupload.finish(leg, job, gen)
        return
    try:
        remote = leg.files.get(job.gemini_file_name)
    except GeminiPermanent as exc:
        leg._fail(job, ErrorCode(exc.code), public_message(exc), detail=exc.message)
        return
    except GeminiTransient as exc:
        noted = leg._note_transient(job_id, State.PROCESSING, exc, count=True)
        if noted is not None and budget_spent(noted.attempts, leg.settings.gemini_retry_budget):
            leg._fail(noted, ErrorCode.GEMINI_UNAVAILABLE, exhausted_message(noted.attempts, noted.last_error))
            return
        failures = noted.attempts if noted is not None else 1
        leg._next(job_id, gen, "poll", max(poll_delay(job.polls, leg.uniform),
                                           retry_delay(failures, exc.retry_after, leg.uniform)))
        return
    if remote.state == "PROCESSING" and job.deadline_at is not None and leg.clock() > job.deadline_at:
        # Only a file still PROCESSING is late: a poll that itself ran late must not fail an ACTIVE file.
        leg._forget_remote(job.gemini_file_name)  # before FAILED: a client that sees FAILED finds no file left
        leg._fail(job, ErrorCode.PROCESSING_TIMEOUT)
        return
    follow(leg, job, remote, gen)


def follow(leg: Leg, job: Job, remote: RemoteFile, gen: int) -> None:
    """Act on the Gemini file's state after an upload or a poll."""
    if remote.state == "ACTIVE":
        checked = integrity.verdict(job.sha256, remote.sha256_hex)
        if checked is integrity.Verdict.MISMATCH:
            reupload.on_mismatch(leg, job, remote, gen)
            return
        try:
            done = leg.store.transition(
                job.job_id, Event.FILE_ACTIVE, expect=State.PROCESSING, gemini_file_uri=remote.uri,
                gemini_expires_at=remote.expiration_time or job.gemini_expires_at, attempts=0, last_error=None,
                sha256_verified=checked is integrity.Verdict.MATCH)
        except (StaleJob, IllegalTransition, JobNotFound):
            return
        log.info("job_active", extra={"fields": {"jobId": done.job_id, "attemptId": done.attempt_id,
                                                 "fileName": remote.name}})
        if leg.settings.spool_retention_active_s <= 0:
            Spool.remove(done.spool_path)
    elif remote.state == "FAILED":
        failed = ErrorCode.GEMINI_PROCESSING_FAILED
        leg._forget_remote(remote.name)  # before FAILED, as above
        leg._fail(job, failed, public_message(failed), detail=remote.error_message or "no reason given")
    else:
        leg._next(job.job_id, gen, "poll", poll_delay(job.polls, leg.uniform))
