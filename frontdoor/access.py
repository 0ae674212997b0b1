"""The one structured log line per upload request.

It carries what an operator needs to prove "exactly one /api/upload request per attemptId" and to see why a
request ended: requestId, attemptId, jobId, status, outcome, bytesReceived, lastByteAt, aborted, closed,
durationMs and msFromLastByte (time from the last body byte to the answer).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from focalpoint_upload.jobs.record import iso

if TYPE_CHECKING:
    from focalpoint_upload.frontdoor.upload_body import SpoolingBody

log = logging.getLogger("focalpoint.access")


class AccessLog:
    def __init__(self, handler: SpoolingBody) -> None:
        self._h = handler
        self.body_bytes = 0
        self.file_bytes: int | None = None
        self.last_byte_at: float | None = None
        self.aborted = False
        self.closed = False
        self.cut: str | None = None  # why we closed the connection ourselves ("idle", "drain_limit")
        self.outcome: str | None = None  # accepted, replayed, conflict, refused
        self.error: str | None = None
        self.logged = False

    def write(self, status: int) -> None:
        """Emit the line; only the first call counts."""
        if self.logged:
            return
        self.logged = True
        h = self._h
        now = time.monotonic()
        fields: dict[str, Any] = {
            "requestId": h.request_id,
            **h.access_fields(),
            "method": h.request.method,
            "path": h.request.path,
            "status": status,
            "outcome": self.outcome or ("aborted" if self.aborted else None),
            "error": self.error,
            "bytesReceived": self.body_bytes,
            "fileBytes": self.file_bytes,
            "lastByteAt": iso(self.last_byte_at),
            "aborted": self.aborted,
            "closed": self.closed,
            "cut": self.cut,
            "durationMs": round((now - h.started) * 1000, 1),
            "msFromLastByte": (round((now - h.last_byte_mono) * 1000, 1) if self.last_byte_at else None),
            "remoteIp": h.request.remote_ip,
        }
        log.info("upload_request", extra={"fields": fields})
        if h.fd.metrics is not None:
            h.fd.metrics.access_line(fields)
