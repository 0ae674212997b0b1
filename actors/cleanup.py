"""Releasing what a job holds once it has ended under a running actor (cancelled, or failed elsewhere).

Best effort by design: the Gemini side forgets on its own (sessions expire within a week, files after 48 h) and
the sweeper removes spool files by their job's retention, so nothing here may fail the caller.
"""

from __future__ import annotations

from focalpoint_upload.actors.ports import Files, Uploader
from focalpoint_upload.gemini.errors import GeminiError
from focalpoint_upload.jobs import JobStore, State
from focalpoint_upload.jobs.spool import Spool


def abandon(store: JobStore, uploader: Uploader, files: Files, job_id: str, remote_name: str | None = None) -> None:
    """Cancel the job's Gemini session; for a CANCELLED job also delete its Gemini file and its spool."""
    job = store.get(job_id)
    if job is None or job.state == State.ACTIVE:
        return
    if job.gemini_upload_url:
        try:
            uploader.cancel(job.gemini_upload_url)
        except GeminiError:
            pass  # the session expires by itself within a week
    name = remote_name or job.gemini_file_name
    if job.state == State.CANCELLED:
        if name:
            forget_remote(files, name)
        Spool.remove(job.spool_path)


def forget_remote(files: Files, name: str) -> None:
    """Delete a Gemini file we will not use (a failed or stuck one, or a cancelled job's)."""
    try:
        files.delete(name)
    except GeminiError:
        pass  # Gemini deletes files after 48 h anyway
