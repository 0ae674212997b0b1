"""The spool: where a job's bytes wait on disk between the front door and the Gemini upload.

:class:`Spool` is the one owner of the spool's file names and of their removal. A job's file is
``<spool_dir>/<jobId>`` (recorded on the job as ``spool_path``); while its bytes arrive they go to the twin
``<jobId>.part``, which becomes the file by a rename once complete. Writing is the front door's
(``frontdoor/spool.py``); the workers read the file; the sweeper removes what no job needs any more.

:func:`fail_spooling` is the one way a SPOOLING job is given up on (expired, or its front door died): it fails
the job and removes whatever it had spooled.

Everything here blocks on the disk (and :func:`fail_spooling` on Redis): the front door runs it on an executor.
It lives with the jobs, not in ``frontdoor/``, because the workers need the same names (actors never import the
front door).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from focalpoint_upload.jobs.codes import ErrorCode, failure
from focalpoint_upload.jobs.errors import IllegalTransition, JobNotFound, StaleJob
from focalpoint_upload.jobs.machine import Event, State
from focalpoint_upload.jobs.record import Job
from focalpoint_upload.jobs.store import JobStore

if TYPE_CHECKING:
    from focalpoint_upload.jobs.astore import AsyncJobStore

PART = ".part"
# What may be a job's file in the spool directory (job ids are URL-safe base64; see jobs.record.new_job_id).
_JOB_FILE = re.compile(r"^([A-Za-z0-9_-]{16,64})(\.part)?$")


@dataclass(frozen=True)
class SpoolEntry:
    """A file in the spool directory that is named as a job's."""

    job_id: str
    path: Path
    partial: bool  # the ``.part`` of an upload still arriving (or of one that died)


@dataclass(frozen=True)
class Spool:
    directory: Path

    def file(self, job_id: str) -> Path:
        """Where ``job_id``'s complete file is (the job's ``spool_path``)."""
        return self.directory / job_id

    @staticmethod
    def part(file: str | Path) -> Path:
        """The ``.part`` twin of a job's file, where its bytes arrive."""
        return Path(f"{file}{PART}")

    @staticmethod
    def remove(file: str | Path | None) -> int:
        """Delete a job's file and its ``.part``, whichever exist; returns how many were removed. Idempotent:
        many processes may remove the same job's files at once."""
        if not file:
            return 0
        return Spool.unlink(Path(file)) + Spool.unlink(Spool.part(file))

    @staticmethod
    def remove_part(file: str | Path | None) -> int:
        """Delete only a job's ``.part`` (an upload that will not complete); 1 if there was one."""
        return Spool.unlink(Spool.part(file)) if file else 0

    @staticmethod
    def unlink(path: Path) -> int:
        """Delete one spool file; 1 if it was there, 0 if someone else removed it first."""
        try:
            path.unlink()
            return 1
        except FileNotFoundError:
            return 0

    def entries(self) -> Iterator[SpoolEntry]:
        """The files in the directory named as a job's (complete or ``.part``); nothing if there is no directory."""
        if not self.directory.is_dir():
            return
        for path in self.directory.iterdir():
            m = _JOB_FILE.match(path.name)
            if m is not None and path.is_file():
                yield SpoolEntry(m.group(1), path, partial=m.group(2) is not None)


def fail_spooling(store: JobStore, job: Job, code: ErrorCode) -> Job | None:
    """Give up on a SPOOLING upload: FAILED with ``code`` (an ingest failure, with its fixed message), then its
    spool files removed. Returns the failed job; None if it was no longer SPOOLING (completed, cancelled or failed
    by another process meanwhile: a race, not an error). Then only a ``.part`` is removed, which no upload writes
    any more: a file completed meanwhile is the job's and stays."""
    assert code.ingest, code
    try:
        failed = store.transition(job.job_id, Event.FAIL, expect=State.SPOOLING, **failure(code))
    except (StaleJob, IllegalTransition, JobNotFound):
        Spool.remove_part(job.spool_path)
        return None
    Spool.remove(failed.spool_path)
    return failed


async def afail_spooling(store: AsyncJobStore, job: Job, code: ErrorCode,
                         disk: Callable[..., Awaitable[object]]) -> Job | None:
    """:func:`fail_spooling` for the front door: the same step on the async store face, the file removal run
    through ``disk`` (the front door's disk pool, e.g. ``fd.call``) so the IOLoop never blocks on the disk."""
    assert code.ingest, code
    try:
        failed = await store.transition(job.job_id, Event.FAIL, expect=State.SPOOLING, known=job, **failure(code))
    except (StaleJob, IllegalTransition, JobNotFound):
        await disk(Spool.remove_part, job.spool_path)
        return None
    await disk(Spool.remove, failed.spool_path)
    return failed
