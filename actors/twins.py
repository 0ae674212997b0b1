"""In-memory twins of the leg's Gemini, scheduler and alert ports (``actors.ports``), for unit tests.

:class:`MemoryGemini` is both an :class:`~actors.ports.Uploader` and :class:`~actors.ports.Files`: it reads the
spool file in chunks as the real uploader does, keeps sessions by URL (a stored URL resumes at the offset the
"server" kept, a finished one gives back its file; an unknown or cancelled one is replaced by a new session,
saved before any byte is sent), and keeps files with the sha256 of the bytes it received. Faults are scripted
by the test, never random: ``upload_faults`` (raise after so many chunks of a call), ``corrupt_next`` (store
the next files' digests wrong), ``get_faults`` and ``delete_faults``. New files start in ``new_file_state``;
:meth:`set_state` moves one on, as Gemini's processing would.

:class:`MemoryScheduler` records the leg's messages instead of sending them; :class:`MemoryAlerts` records
the alerts. Slots and leases have their twins beside their real adapters (``actors.slots.MemorySlots``,
``jobs.lease.MemoryLeases``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from focalpoint_upload.actors.ports import RemoteFile
from focalpoint_upload.gemini.errors import CaughtUp, FileTooShort, GeminiError, GeminiPermanent
from focalpoint_upload.gemini.uploader import streamable


@dataclass
class _Session:
    path: Path
    size: int
    mime_type: str
    display_name: str | None
    received: int = 0
    cancelled: bool = False
    file: RemoteFile | None = None  # set once final: asking again returns it, as a query of a final session does


@dataclass
class MemoryGemini:
    """A Gemini Files API in memory (thread-safe: the leg's lease and slot keepers may run beside it)."""

    chunk_bytes: int = 4
    granularity: int = 2  # stream-through sends whole granules only (the real server's rule for non-final chunks)
    new_file_state: str = "ACTIVE"
    expiration_time: str | None = "2030-01-01T00:00:00Z"
    upload_faults: list[tuple[int, GeminiError]] = field(default_factory=list)  # (after n chunks, raise this)
    corrupt_next: int = 0
    get_faults: list[GeminiError] = field(default_factory=list)
    delete_faults: list[GeminiError] = field(default_factory=list)
    on_chunk: Callable[[int], None] | None = None  # called with the offset after each chunk (before the save)
    files: dict[str, RemoteFile] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    chunks_sent: int = 0
    _n: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- Uploader -----------------------------------------------------------------------------------------
    def upload(self, path: Path, size: int, mime_type: str, display_name: str | None, session_url: str | None,
               save_session: Callable[[str], None], save_progress: Callable[[int], None],
               limit: Callable[[], int] | None = None) -> RemoteFile:
        session = self.sessions.get(session_url or "")
        if session is None or session.cancelled:
            session_url = self._new_id("https://upload.invalid/session/")
            session = self.sessions[session_url] = _Session(path, size, mime_type, display_name)
            save_session(session_url)
        session.path = path  # a streamed upload began on the ".part" file, renamed since
        if session.file is not None:
            return session.file
        fault = self.upload_faults.pop(0) if self.upload_faults else None
        sent_in_call = 0
        with open(path, "rb") as f:
            f.seek(session.received)
            while session.received < size:
                if fault is not None and sent_in_call == fault[0]:
                    raise fault[1]
                step = min(self.chunk_bytes, size - session.received)
                if limit is not None:
                    step = streamable(session.received, step, min(limit(), size - 1), self.granularity)
                    if step <= 0:
                        raise CaughtUp(session.received)
                piece = f.read(step)
                if len(piece) < step:
                    raise FileTooShort(f"{path} is shorter than {size} bytes")  # as the real uploader says
                session.received += len(piece)
                sent_in_call += 1
                self.chunks_sent += 1
                if self.on_chunk is not None:
                    self.on_chunk(session.received)
                save_progress(session.received)
        if fault is not None:
            raise fault[1]  # scripted after more chunks than there were: it fails at the end
        return self._finish(session)

    def cancel(self, session_url: str) -> None:
        session = self.sessions.get(session_url)
        if session is not None:
            session.cancelled = True

    # --- Files --------------------------------------------------------------------------------------------
    def get(self, name: str) -> RemoteFile:
        if self.get_faults:
            raise self.get_faults.pop(0)
        with self._lock:
            remote = self.files.get(name)
        if remote is None:
            raise GeminiPermanent("not_found", f"no file {name}", 404)
        return remote

    def delete(self, name: str) -> None:
        if self.delete_faults:
            raise self.delete_faults.pop(0)
        with self._lock:
            if self.files.pop(name, None) is not None:
                self.deleted.append(name)

    # --- what the test does as "Gemini" -------------------------------------------------------------------
    def set_state(self, name: str, state: str, error_message: str | None = None) -> None:
        with self._lock:
            self.files[name] = replace(self.files[name], state=state, error_message=error_message)

    def _finish(self, session: _Session) -> RemoteFile:
        digest = hashlib.sha256(session.path.read_bytes()[:session.size]).hexdigest()
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
            digest = hashlib.sha256(digest.encode()).hexdigest()  # "Gemini stored other bytes"
        name = self._new_id("files/f")
        remote = RemoteFile(name=name, uri=f"https://generativelanguage.invalid/v1beta/{name}",
                            state=self.new_file_state, expiration_time=self.expiration_time, sha256_hex=digest)
        with self._lock:
            self.files[name] = remote
        session.file = remote
        return remote

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            self._n += 1
            return f"{prefix}{self._n}"


@dataclass(frozen=True)
class Message:
    kind: str  # "upload" | "poll" | "stream"
    job_id: str
    gen: int
    delay_s: float


class MemoryScheduler:
    """A :class:`~actors.ports.Scheduler` that keeps the messages the leg sends (oldest first) for the test."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def upload(self, job_id: str, gen: int, delay_s: float = 0.0) -> None:
        self.sent.append(Message("upload", job_id, gen, delay_s))

    def poll(self, job_id: str, gen: int, delay_s: float = 0.0) -> None:
        self.sent.append(Message("poll", job_id, gen, delay_s))

    def stream(self, job_id: str, gen: int, delay_s: float = 0.0) -> None:
        self.sent.append(Message("stream", job_id, gen, delay_s))

    def take(self) -> Message | None:
        """The oldest message not yet taken, or None."""
        return self.sent.pop(0) if self.sent else None


@dataclass(frozen=True)
class Alert:
    job_id: str
    attempt_id: str
    stage: str
    code: str
    message: str


class MemoryAlerts:
    """An :class:`~actors.ports.Alerts` that keeps what it was told."""

    def __init__(self) -> None:
        self.failed: list[Alert] = []

    def job_failed(self, job_id: str, attempt_id: str, stage: str, code: str, message: str) -> None:
        self.failed.append(Alert(job_id, attempt_id, stage, code, message))
