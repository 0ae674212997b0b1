"""The interfaces the Gemini leg needs; the real adapters live in ``gemini/`` and ``actors/runtime.py``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from focalpoint_upload.jobs.lease import LeaseHandle


@dataclass(frozen=True)
class RemoteFile:
    """A Gemini file as the leg needs it."""

    name: str  # "files/abc123"
    uri: str
    state: str  # PROCESSING | ACTIVE | FAILED
    expiration_time: str | None = None
    error_message: str | None = None
    sha256_hex: str | None = None  # Gemini's sha256Hash of the stored bytes, as hex; None when not reported


class Uploader(Protocol):
    def upload(self, path: Path, size: int, mime_type: str, display_name: str | None, session_url: str | None,
               save_session: Callable[[str], None], save_progress: Callable[[int], None],
               limit: Callable[[], int] | None = None) -> RemoteFile:
        """Upload ``path`` through Google's resumable protocol, resuming ``session_url`` if given.

        With ``limit`` (stream-through, ``actors.stream``) only bytes below ``limit()`` go, in whole granules,
        never the last byte; ``gemini.errors.CaughtUp`` says when no more may go yet.

        ``save_session`` is called with a new session URL before any byte is sent to it; ``save_progress``
        with the server's offset after each chunk. Exceptions raised by the callbacks propagate (that is how
        the leg pauses or stops an upload). Raises ``GeminiTransient``, ``GeminiPermanent``, ``SessionGone``;
        ``FileNotFoundError`` if ``path`` is missing and ``FileTooShort`` if it holds fewer than ``size`` bytes.
        """

    def cancel(self, session_url: str) -> None: ...


class Files(Protocol):
    def get(self, name: str) -> RemoteFile: ...

    def delete(self, name: str) -> None: ...


class Scheduler(Protocol):
    """Sends the leg's messages (Dramatiq in production); ``gen`` is the job's message generation."""

    def upload(self, job_id: str, gen: int, delay_s: float = 0.0) -> None: ...

    def poll(self, job_id: str, gen: int, delay_s: float = 0.0) -> None: ...

    def stream(self, job_id: str, gen: int, delay_s: float = 0.0) -> None: ...


class Lease(Protocol):
    """Per-job exclusive lease (``jobs.lease.Leases``)."""

    def hold(self, job_id: str) -> AbstractContextManager[LeaseHandle | None]: ...

    @property
    def ttl_s(self) -> float: ...


class Slots(Protocol):
    """The global cap on concurrent Gemini uploads across all workers."""

    def hold(self) -> AbstractContextManager[bool]:
        """Context manager yielding True if a slot was taken (released on exit), False if none was free."""


class Alerts(Protocol):
    def job_failed(self, job_id: str, attempt_id: str, stage: str, code: str, message: str) -> None: ...
