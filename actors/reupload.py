"""What the leg does when Gemini's sha256 of a file differs from the spool's (``gemini.integrity``).

The first mismatch of a job: delete that Gemini file, move the job PROCESSING -> SPOOLED (``Event.REUPLOAD``)
and send an upload message; the upload starts from byte 0 with a new session. It counts as one run without
progress against the job's retry budget (``attempts``), so a job that has spent its budget fails instead.
The second mismatch: the job is FAILED with ``integrity_mismatch`` and its Gemini file is deleted, so no
Gemini file is left. The file is deleted *before* the compare-and-set that sends the job back, and named in
``discard_file`` first: if the delete fails transiently, or the run dies between the delete and the
compare-and-set, the job stays PROCESSING with ``discard_file`` set, and its next poll (or the sweeper's) finishes
the way back (:func:`finish`) instead of asking Gemini about a file that may be gone. Deleting twice is harmless.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from focalpoint_upload.actors.policy import budget_spent, retry_delay
from focalpoint_upload.actors.ports import RemoteFile
from focalpoint_upload.gemini.errors import GeminiError, GeminiTransient
from focalpoint_upload.jobs import ErrorCode, Event, IllegalTransition, Job, JobNotFound, StaleJob, State

if TYPE_CHECKING:
    from focalpoint_upload.actors.leg import Leg

log = logging.getLogger("focalpoint.actors")
MAX_REUPLOADS = 1


def on_mismatch(leg: Leg, job: Job, remote: RemoteFile, gen: int) -> None:
    """Handle a Gemini file whose digest is not the spool's (the job is PROCESSING, message ``gen``)."""
    log.warning("integrity_mismatch", extra={"fields": {
        "jobId": job.job_id, "fileName": remote.name, "spoolSha256": job.sha256, "geminiSha256": remote.sha256_hex,
        "reuploads": job.integrity_retries}})
    if job.integrity_retries >= MAX_REUPLOADS or budget_spent(job.attempts + 1, leg.settings.gemini_retry_budget):
        # Delete first: once a client sees FAILED no Gemini file may be left (fresh-clone ci8 saw the file still
        # there right after FAILED when the delete came second).
        leg._forget_remote(remote.name)
        leg._fail(job, ErrorCode.INTEGRITY_MISMATCH, "Gemini stored different bytes than were uploaded (sha256 "
                  "mismatch), also after uploading the file again.")
        return

    def mark(current: Job) -> Job:
        if current.state != State.PROCESSING or current.gemini_file_name != remote.name:
            raise StaleJob(job.job_id, State.PROCESSING, current.state)
        return current.with_(discard_file=remote.name)

    try:
        marked = leg.store.modify(job.job_id, mark)
    except (StaleJob, IllegalTransition, JobNotFound):
        return
    finish(leg, marked, gen)


def finish(leg: Leg, job: Job, gen: int) -> None:
    """Delete ``job.discard_file`` and send the job back to SPOOLED. Also what a poll does for a job found
    with ``discard_file`` set: a run that died between the delete and the compare-and-set is finished then
    (the file is gone, so polling it would wrongly fail the job)."""
    name = job.discard_file or ""
    try:
        leg.files.delete(name)  # missing_ok: a second delete of the same file is fine
    except GeminiError as exc:  # the file must go before we upload another: try again in a later poll
        transient = exc if isinstance(exc, GeminiTransient) else GeminiTransient(str(exc), None)
        noted = leg._note_transient(job.job_id, State.PROCESSING, transient, count=True)
        failures = noted.attempts if noted is not None else job.attempts + 1
        leg._next(job.job_id, gen, "poll", retry_delay(failures, transient.retry_after, leg.uniform))
        return
    try:
        leg.store.transition(
            job.job_id, Event.REUPLOAD, expect=State.PROCESSING, integrity_retries=job.integrity_retries + 1,
            attempts=job.attempts + 1, last_error="sha256 mismatch: uploading the file again", discard_file=None,
            gemini_file_name=None, gemini_file_uri=None, gemini_expires_at=None, gemini_upload_url=None,
            bytes_uploaded=0, polls=0, deadline_at=None)
    except (StaleJob, IllegalTransition, JobNotFound):
        return  # cancelled or failed meanwhile: whoever ended it cleans up
    leg._next(job.job_id, gen, "upload")
