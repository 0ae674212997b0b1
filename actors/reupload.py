"""What the leg does when Gemini's sha256 of a file differs from the spool's (``gemini.integrity``).

The first mismatch of a job: delete that Gemini file, move the job PROCESSING -> SPOOLED (``Event.REUPLOAD``)
and send an upload message; the upload starts from byte 0 with a new session. It counts as one run without
progress against the job's retry budget (``attempts``), so a job that has spent its budget fails instead.
The second mismatch: the job is FAILED with ``integrity_mismatch`` and its Gemini file is deleted, so no
Gemini file is left. The file is deleted *before* the compare-and-set: a delete that fails transiently leaves
the job PROCESSING, and the next poll sees the same mismatch and tries again; a repeated delete is harmless.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from actors.policy import budget_spent, retry_delay
from actors.ports import RemoteFile
from gemini.errors import GeminiError, GeminiTransient
from jobs import Event, IllegalTransition, Job, JobNotFound, StaleJob, State
from jobs.record import INTEGRITY_MISMATCH

if TYPE_CHECKING:
    from actors.leg import Leg

log = logging.getLogger("focalpoint.actors")
MAX_REUPLOADS = 1


def on_mismatch(leg: Leg, job: Job, remote: RemoteFile, gen: int) -> None:
    """Handle a Gemini file whose digest is not the spool's (the job is PROCESSING, message ``gen``)."""
    log.warning("integrity_mismatch", extra={"fields": {
        "jobId": job.job_id, "fileName": remote.name, "spoolSha256": job.sha256, "geminiSha256": remote.sha256_hex,
        "reuploads": job.integrity_retries}})
    if job.integrity_retries >= MAX_REUPLOADS or budget_spent(job.attempts + 1, leg.settings.gemini_retry_budget):
        leg._fail(job, INTEGRITY_MISMATCH, "Gemini stored different bytes than were uploaded (sha256 mismatch), "
                  "also after uploading the file again.", retryable=True)
        leg._forget_remote(remote.name)
        return
    try:
        leg.files.delete(remote.name)
    except GeminiError as exc:  # the file must go before we upload another: poll again (same chain) later
        transient = exc if isinstance(exc, GeminiTransient) else GeminiTransient(str(exc), None)
        leg._note_transient(job.job_id, State.PROCESSING, transient, count=True)
        leg._next(job.job_id, gen, "poll", retry_delay(job.attempts + 1, transient.retry_after, leg.uniform))
        return
    try:
        leg.store.transition(
            job.job_id, Event.REUPLOAD, expect=State.PROCESSING, integrity_retries=job.integrity_retries + 1,
            attempts=job.attempts + 1, last_error="sha256 mismatch: uploading the file again",
            gemini_file_name=None, gemini_file_uri=None, gemini_expires_at=None, gemini_upload_url=None,
            bytes_uploaded=0, polls=0, deadline_at=None)
    except (StaleJob, IllegalTransition, JobNotFound):
        return  # cancelled or failed meanwhile: whoever ended it cleans up
    leg._next(job.job_id, gen, "upload")
