"""The emulator's state: upload sessions, stored files, limits, faults and the request log.

Everything is in memory and guarded by one lock, because tests drive it from their own thread while the
Tornado IOLoop serves from another. Time comes from the injected ``clock`` plus a skew that
:meth:`Emulator.advance` moves, so a test (or ``POST /_emulator/advance``) can let 48 hours pass.
Processing is evaluated lazily: a file is PROCESSING until ``finalized + processing_delay_s`` and ACTIVE
from then on, so with a delay of 0 the final upload reply already says ACTIVE. A file's delay is fixed
when it is finalized: changing ``processing_delay_s`` later affects only new files.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from focalpoint_upload.gemini.emulator import wire
from focalpoint_upload.gemini.emulator.faults import Fault, FaultBook
from focalpoint_upload.gemini.emulator.listing import page_of
from focalpoint_upload.gemini.emulator.records import ApiError, EmulatorConfig, LogEntry, Session, StoredFile

__all__ = ["ApiError", "Emulator", "EmulatorConfig", "LogEntry", "Session", "StoredFile"]
_ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


class Emulator:
    """State and rules of the Files API; the HTTP layer is :mod:`gemini.emulator.handlers`."""

    def __init__(self, config: EmulatorConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config or EmulatorConfig()
        self._clock = clock
        self._skew = 0.0
        self.lock = threading.RLock()
        self.faults = FaultBook()
        self.sessions: dict[str, Session] = {}
        self.files: dict[str, StoredFile] = {}
        self._log: list[LogEntry] = []

    # ----- test/control API -------------------------------------------------------------------------
    def now(self) -> float:
        return self._clock() + self._skew

    def advance(self, seconds: float) -> None:
        """Move the emulator's time forward (processing, file expiry and session expiry follow)."""
        with self.lock:
            self._skew += seconds

    def add_fault(self, kind: str, routes: str | list[str] | tuple[str, ...] | None = None, **params: Any) -> Fault:
        """Inject a fault (see :mod:`gemini.emulator.faults`); returns it so a test can read ``fired``."""
        fault = Fault.make(kind, routes, **params)
        with self.lock:
            return self.faults.add(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def fault_counts(self) -> dict[str, int]:
        with self.lock:
            return self.faults.counts()

    def configure(self, **changes: Any) -> None:
        with self.lock:
            for name, value in changes.items():
                if not hasattr(self.config, name):
                    raise ValueError(f"unknown setting {name!r}")
                setattr(self.config, name, type(getattr(self.config, name))(value))

    def reset(self) -> None:
        """Forget files, sessions, faults, the log and the clock skew (the config stays)."""
        with self.lock:
            self.faults = FaultBook()
            self.sessions.clear()
            self.files.clear()
            self._log.clear()
            self._skew = 0.0

    def log(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(e) for e in self._log]

    def record(self, entry: LogEntry) -> None:
        with self.lock:
            entry.seq = len(self._log) + 1
            self._log.append(entry)

    def expire_session(self, upload_id: str | None = None) -> int:
        """Expire one session (or all active ones); returns how many expired."""
        with self.lock:
            hit = [s for s in self.sessions.values()
                   if s.state == "active" and (upload_id is None or s.upload_id == upload_id)]
            for s in hit:
                s.state = "expired"
            return len(hit)

    def upload_id_of(self, url: str) -> str:
        return url.split("upload_id=", 1)[1].split("&", 1)[0]

    # ----- start ------------------------------------------------------------------------------------
    def start(self, version: str, meta: dict[str, Any], size_header: str | None, type_header: str | None) -> Session:
        """Open a resumable session. ``meta`` is the request's ``file`` object, snake_case or camelCase."""
        def pick(*keys: str) -> Any:
            return next((meta[k] for k in keys if meta.get(k) not in (None, "")), None)

        raw_size = size_header if size_header is not None else pick("size_bytes", "sizeBytes")
        try:
            declared = int(raw_size) if raw_size is not None else None
        except ValueError:
            raise ApiError(400, f"Invalid X-Goog-Upload-Header-Content-Length: {raw_size!r}") from None
        mime = type_header or pick("mime_type", "mimeType")
        if not mime:
            raise ApiError(400, "Missing mime type: set X-Goog-Upload-Header-Content-Type or file.mimeType.")
        name = pick("name")
        with self.lock:
            self._purge()
            if declared is not None:
                self._check_limits(declared)
            file_id = self._claim_id(name)
            session = Session(upload_id=secrets.token_urlsafe(30), version=version, declared_size=declared,
                              mime_type=str(mime), display_name=pick("display_name", "displayName"),
                              file_id=file_id, created=self.now())
            self.sessions[session.upload_id] = session
            return session

    def _claim_id(self, name: Any) -> str:
        if name is None:
            alphabet = string.ascii_lowercase + string.digits
            while True:
                file_id = "".join(secrets.choice(alphabet) for _ in range(12))
                if file_id not in self.files:
                    return file_id
        file_id = str(name).removeprefix("files/")
        if not _ID_RE.match(file_id):
            raise ApiError(400, f"Invalid file name {name!r}: up to 40 lowercase letters, digits or dashes.")
        if file_id in self.files or any(s.file_id == file_id and s.state == "active" for s in self.sessions.values()):
            raise ApiError(409, f"File files/{file_id} already exists.")
        return file_id

    def _check_limits(self, size: int) -> None:
        if size > self.config.max_file_bytes:
            raise ApiError(400, f"File size {size} bytes exceeds the limit of {self.config.max_file_bytes} bytes.")
        used = sum(f.size for f in self.files.values())
        if used + size > self.config.project_bytes:
            # No RetryInfo: waiting does not help, only deleting files (or their 48 h expiry) does.
            raise ApiError(429, f"Storage quota of {self.config.project_bytes} bytes per project exceeded.",
                           [wire.quota_failure("FileStorageBytesPerProject")])

    # ----- session commands -------------------------------------------------------------------------
    def session(self, upload_id: str, *, for_query: bool = False) -> Session:
        """The session behind an upload URL. Unknown or expired: 404; cancelled: 410 (``query`` still
        answers a cancelled one, with status ``cancelled``); finalized: returned, callers decide."""
        with self.lock:
            s = self.sessions.get(upload_id)
            if s is not None and s.state == "active" and self.now() > s.created + self.config.session_ttl_s:
                s.state = "expired"
            if s is None or s.state == "expired":
                raise ApiError(404, "The upload session was not found or has expired.")
            if s.state == "cancelled" and not for_query:
                raise ApiError(410, "The upload session was cancelled.", headers={"X-Goog-Upload-Status": "cancelled"})
            return s

    def check_chunk(self, s: Session, offset: int | None, length: int, finalize: bool) -> None:
        """Validate a chunk before its bytes are committed (Google's 400s for offset and granularity)."""
        status = {"X-Goog-Upload-Status": s.state, "X-Goog-Upload-Size-Received": str(s.received)}
        if s.state == "final":
            raise ApiError(400, "The upload has already been finalized.", headers=status)
        if offset is None:
            raise ApiError(400, "Missing X-Goog-Upload-Offset.", headers=status)
        if offset != s.received:
            raise ApiError(400, f"Invalid offset {offset}: {s.received} bytes were received so far.", headers=status)
        if not finalize and length % self.config.granularity:
            raise ApiError(400, f"The chunk size {length} is not a multiple of the chunk granularity "
                                f"{self.config.granularity}.", headers=status)
        total = s.received + length
        if s.declared_size is not None and (total > s.declared_size or (finalize and total != s.declared_size)):
            raise ApiError(400, f"Upload size {total} does not match the declared size {s.declared_size}.",
                           headers=status)
        if total > self.config.max_file_bytes:
            raise ApiError(413, f"File size exceeds the limit of {self.config.max_file_bytes} bytes.", headers=status)

    def commit(self, s: Session, data: bytes) -> None:
        with self.lock:
            s.hasher.update(data)
            s.received += len(data)

    def finalize(self, s: Session, fault: Fault | None) -> StoredFile:
        """Turn a complete session into a file; a processing fault decides how its processing ends."""
        with self.lock:
            self._purge()
            used = sum(f.size for f in self.files.values())
            if used + s.received > self.config.project_bytes:
                raise ApiError(429, f"Storage quota of {self.config.project_bytes} bytes per project exceeded.",
                               [wire.quota_failure("FileStorageBytesPerProject")])
            now = self.now()
            ready: float | None = now + self.config.processing_delay_s
            error = None
            if fault is not None and fault.kind == "processing_stuck":
                ready = None
            elif fault is not None and fault.kind == "processing_failed":
                error = (fault.error_code, fault.message or "File processing failed.")
            stored = StoredFile(file_id=s.file_id, display_name=s.display_name, mime_type=s.mime_type,
                                size=s.received, sha256_hex=s.hasher.hexdigest(), created=now,
                                ready_at=ready, error=error)
            self.files[s.file_id] = stored
            s.state = "final"
            return stored

    def cancel(self, s: Session) -> None:
        with self.lock:
            if s.state == "active":
                s.state = "cancelled"

    # ----- files ------------------------------------------------------------------------------------
    def state_of(self, f: StoredFile) -> str:
        if f.ready_at is None or self.now() < f.ready_at:
            return "PROCESSING"
        return "FAILED" if f.error is not None else "ACTIVE"

    def file_json(self, f: StoredFile, base_url: str, version: str) -> dict[str, Any]:
        state = self.state_of(f)
        updated = f.created if state == "PROCESSING" else max(f.created, f.ready_at or f.created)
        return wire.file_body(file_id=f.file_id, display_name=f.display_name, mime_type=f.mime_type,
                              size=f.size, created=f.created, updated=updated,
                              expires=f.created + self.config.file_ttl_s, sha256_hex=f.sha256_hex,
                              base_url=base_url, version=version, state=state,
                              error=f.error if state == "FAILED" else None)

    def get_file(self, file_id: str) -> StoredFile:
        with self.lock:
            self._purge()
            f = self.files.get(file_id)
            if f is None:
                # Google does not say "not found": a missing file looks like someone else's.
                raise ApiError(403, f"You do not have permission to access the File {file_id} or it may not exist.")
            return f

    def delete_file(self, file_id: str) -> None:
        with self.lock:
            self.get_file(file_id)
            del self.files[file_id]

    def list_files(self, page_size: int | None, page_token: str | None) -> tuple[list[StoredFile], str | None]:
        with self.lock:
            self._purge()
            try:
                return page_of(list(self.files.values()), page_size, page_token)
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None

    def set_processing(self, file_id: str, state: str, error: tuple[int, str] | None = None) -> None:
        """Force a file's processing outcome: ``ACTIVE`` now, ``FAILED`` now, or ``PROCESSING`` for ever."""
        with self.lock:
            f = self.files[file_id.removeprefix("files/")]
            if state == "PROCESSING":
                f.ready_at, f.error = None, None
            elif state == "ACTIVE":
                f.ready_at, f.error = self.now(), None
            elif state == "FAILED":
                f.ready_at, f.error = self.now(), error or (400, "File processing failed.")
            else:
                raise ValueError(f"unknown state {state!r}")

    def _purge(self) -> None:
        now = self.now()
        for file_id in [k for k, f in self.files.items() if now >= f.created + self.config.file_ttl_s]:
            del self.files[file_id]
