"""The emulator's records: its settings, an upload session, a stored file, a log entry, and
:class:`ApiError`, an answer in Google's JSON error shape. Plain data; the rules are in
:mod:`gemini.emulator.state`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from focalpoint_upload.gemini.emulator import wire

GIB = 1024**3


class ApiError(Exception):
    """An answer in Google's JSON error shape; ``headers`` go out with it (upload status, Retry-After)."""

    def __init__(self, code: int, message: str, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.body = wire.error_body(code, message, details)
        self.headers = headers or {}


@dataclass
class EmulatorConfig:
    """Tunables. Defaults are Google's published figures (2 GB read as 2 GiB, like our settings)."""

    api_key: str = "emulator-key"
    granularity: int = 8 * 1024 * 1024
    processing_delay_s: float = 0.0
    max_file_bytes: int = 2 * GIB
    project_bytes: int = 20 * GIB
    file_ttl_s: float = 48 * 3600.0
    session_ttl_s: float = 7 * 24 * 3600.0


@dataclass
class Session:
    upload_id: str
    version: str
    declared_size: int | None
    mime_type: str
    display_name: str | None
    file_id: str
    created: float
    received: int = 0
    state: str = "active"  # active | final | cancelled | expired
    hasher: Any = field(default_factory=hashlib.sha256)


@dataclass
class StoredFile:
    file_id: str
    display_name: str | None
    mime_type: str
    size: int
    sha256_hex: str
    created: float
    ready_at: float | None  # None: processing never ends
    error: tuple[int, str] | None


@dataclass
class LogEntry:
    """One request as the emulator saw it. ``status`` is None when no answer was sent (a drop)."""

    seq: int
    method: str
    path: str
    route: str
    command: str | None = None
    upload_id: str | None = None
    offset: int | None = None
    bytes: int = 0
    committed: int = 0
    status: int | None = None
    fault: str | None = None
