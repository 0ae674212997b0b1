"""The job record: what one upload is, how it is stored in a Redis hash, and what clients may see of it."""

from __future__ import annotations

import base64
import dataclasses
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from focalpoint_upload.jobs.codes import ErrorCode
from focalpoint_upload.jobs.machine import State, is_final

# The codes of uploads that never completed (see ErrorCode.ingest), as the text stored on jobs.
INGEST_FAILURES = frozenset(code.value for code in ErrorCode if code.ingest)

# Fields that are never shown to clients: paths on our disks and Gemini session URLs (which grant write access).
PRIVATE_FIELDS = frozenset({"spool_path", "gemini_upload_url", "client_ip", "owner"})

# The owner of every job while auth is off (and of records written before jobs had owners). Users' owner keys
# are "u:..." (frontdoor.auth.Principal), so no user is ever this owner.
ANONYMOUS_OWNER = "anonymous"


def new_job_id() -> str:
    """A random, URL-safe job id with 144 bits of entropy."""
    return base64.urlsafe_b64encode(secrets.token_bytes(18)).decode("ascii")


@dataclass(frozen=True)
class Job:
    job_id: str
    attempt_id: str
    state: State
    created_at: float
    updated_at: float
    bytes_received: int = 0
    bytes_total: int | None = None  # the request's Content-Length when known; the final size once SPOOLED
    last_byte_at: float | None = None
    file_name: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    sha256_verified: bool | None = None  # True once Gemini's sha256Hash of the file matched ``sha256``
    integrity_retries: int = 0  # re-uploads after a sha256 mismatch (one is allowed; see actors.reupload)
    discard_file: str | None = None  # a mismatched Gemini file being deleted before the re-upload (ditto)
    spool_path: str | None = None
    request_id: str | None = None
    client_ip: str | None = None
    bytes_uploaded: int = 0  # bytes Gemini has acknowledged
    gemini_upload_url: str | None = None
    gemini_file_name: str | None = None
    gemini_file_uri: str | None = None
    gemini_expires_at: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_retryable: bool | None = None
    attempts: int = 0  # actor runs in a row without progress (transient failures and crashes alike)
    last_error: str | None = None  # the last transient failure, shown while the job retries
    deadline_at: float | None = None
    msg_gen: int = 0  # generation of the job's one live actor message; older ones are dropped on arrival
    polls: int = 0  # files.get calls made while PROCESSING (sets the poll back-off)
    due_at: float | None = None  # when the job's live message is due to run (the sweeper judges lateness by it)
    retried_at: float | None = None  # the last POST .../retry; the job's overall deadline counts from here
    version: int = 0  # bumped by every write; part of the ETag
    owner: str = ANONYMOUS_OWNER  # the principal's key; its attemptIds are its own, other owners never see it
    waiting: str | None = None  # SPOOLED but held back: "gemini_storage" (no room in GEMINI_STORAGE_BUDGET)
    waiting_since: float | None = None  # when the current wait began (its own deadline: GEMINI_STORAGE_WAIT)
    waited_s: float = 0.0  # time spent waiting so far; the job deadline does not count it
    expired_at: float | None = None  # when the job went ACTIVE -> EXPIRED
    deleted_at: float | None = None  # when the job went ACTIVE -> DELETED
    resumable: bool | None = None  # made by /api/uploads (tus, IETF draft): spooled by many requests over time
    streaming: bool | None = None  # stream-through: the actors forward the durable prefix while it spools

    @property
    def final(self) -> bool:
        return is_final(self.state)

    @property
    def ingest_progress_at(self) -> float:
        """When the client last made progress on a spooling upload (its last recorded byte, or creation). Not
        ``updated_at``: the actors write a streaming job's record too (stream-through), and that is no sign of life
        from the client."""
        return max(self.created_at, self.last_byte_at or 0.0)

    @property
    def ingest_failed(self) -> bool:
        """The upload never completed (see ErrorCode.ingest): the attempt may be sent again."""
        code = ErrorCode.parse(self.error_code)
        return self.state == State.FAILED and code is not None and code.ingest

    def with_(self, **changes: Any) -> Job:
        return dataclasses.replace(self, **changes)

    # --- Redis hash encoding -------------------------------------------------------------------------------
    def to_hash(self) -> dict[str, str]:
        """Every non-None field as text (booleans as "1"/"0")."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool):
                out[f.name] = "1" if value else "0"
            else:
                out[f.name] = str(value)
        return out

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Job:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in raw:
                continue
            text = raw[f.name]
            values[f.name] = _DECODERS.get(f.name, str)(text)
        return cls(**values)

    # --- what clients see ------------------------------------------------------------------------------------
    def public(self) -> dict[str, Any]:
        """The status document of ``GET /api/upload/status`` (camelCase, no private fields)."""
        error = None
        if self.error_code:
            error = {"code": self.error_code, "message": self.error_message or "",
                     "retryable": bool(self.error_retryable)}
        return {
            "jobId": self.job_id,
            "attemptId": self.attempt_id,
            "state": str(self.state),
            "progress": {
                "bytesReceived": self.bytes_received,
                "bytesTotal": self.bytes_total,
                "bytesUploaded": self.bytes_uploaded,
            },
            "fileUri": self.gemini_file_uri if self.state == State.ACTIVE else None,  # usable only once ACTIVE
            "fileName": self.file_name,
            "mimeType": self.mime_type,
            "sha256": self.sha256,
            "sha256Verified": bool(self.sha256_verified),
            "expiresAt": self.gemini_expires_at,
            "error": error,
            "retrying": None if self.final or not self.last_error else {"attempts": self.attempts,
                                                                        "lastError": self.last_error},
            "waiting": self.waiting if self.state == State.SPOOLED else None,
            # While SPOOLING with stream-through, progress.bytesUploaded is what Gemini already holds.
            "streaming": bool(self.streaming) and self.state == State.SPOOLING,
            "expiredAt": iso(self.expired_at) if self.state == State.EXPIRED else None,
            "deletedAt": iso(self.deleted_at) if self.state == State.DELETED else None,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "pollAfterMs": poll_after_ms(self.state),
        }

    def receipt(self) -> dict[str, Any]:
        """The body of the 202 (and of a replayed 200) of ``POST /api/upload``."""
        return {"jobId": self.job_id, "attemptId": self.attempt_id, "state": str(self.state),
                "bytesReceived": self.bytes_received, "sha256": self.sha256}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


POLL_MOVING_MS = 1000
POLL_IDLE_MS = 5000
IDLE_AFTER_S = 300.0


def poll_after_ms(state: State, idle_s: float = 0.0) -> int | None:
    """How long a client should wait before polling again; None once the job is final.

    1 s in every open state, PROCESSING included (Gemini may finish at any moment, and a page should show it
    within 2 s); 5 s once the job has not changed for ``IDLE_AFTER_S`` (``idle_s``: now - its last update).
    """
    if is_final(state):
        return None
    return POLL_IDLE_MS if idle_s >= IDLE_AFTER_S else POLL_MOVING_MS


def _bool(text: str) -> bool:
    return text == "1"


_DECODERS: dict[str, Any] = {
    "state": State,
    "created_at": float, "updated_at": float, "last_byte_at": float, "deadline_at": float, "retried_at": float,
    "due_at": float, "waiting_since": float, "waited_s": float, "expired_at": float, "deleted_at": float,
    "bytes_received": int, "bytes_total": int, "bytes_uploaded": int, "attempts": int, "version": int,
    "msg_gen": int, "polls": int, "integrity_retries": int,
    "error_retryable": _bool, "sha256_verified": _bool, "resumable": _bool, "streaming": _bool,
}
