"""The body of a resumable request (:mod:`frontdoor.uploads`): PATCH and creation-with-upload bytes go into an
:class:`frontdoor.append.Append` with backpressure, within the request's look-ahead of free space
(:mod:`frontdoor.space`); and the protocol's headers (tus 1.0.0 or the IETF draft, :mod:`frontdoor.tus`) and CORS
on every answer, errors included.

A request that will be refused has its body drained (bounded by FOCALPOINT_DRAIN_LIMIT) before the answer. A write
that fails sets the refusal instead of raising: an exception in ``data_received`` would close the connection with
no answer (field notes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable

from tornado.http1connection import HTTP1Connection

from focalpoint_upload.frontdoor.append import Append
from focalpoint_upload.frontdoor.appendfile import LeaseLost
from focalpoint_upload.frontdoor.context import Frontdoor
from focalpoint_upload.frontdoor.core import UploadCore
from focalpoint_upload.frontdoor.errors import ApiError, insufficient_storage, method_not_allowed, upload_locked
from focalpoint_upload.frontdoor.space import next_reserved_until, outstanding, space_problem
from focalpoint_upload.frontdoor.streaming import StreamingHandler
from focalpoint_upload.frontdoor.transfer_rate import RateWindow
from focalpoint_upload.frontdoor.tus import EXPOSED, protocol_for

log = logging.getLogger("focalpoint.frontdoor")


class ResumableBody(StreamingHandler):
    """The request's protocol (``proto``) and body path. ``prepare`` (in :class:`frontdoor.uploads.UploadsHandler`)
    sets the per-request fields declared here."""

    append: Append | None
    refusal: ApiError | None
    body_bytes: int
    body_done: bool
    last_byte: float
    reserved_until: int

    def initialize(self, fd: Frontdoor, core: UploadCore) -> None:  # type: ignore[override]
        super().initialize(fd)
        self.logged = False
        self.offset: int | None = None
        self.core = core
        self.cut: str | None = None  # why we cut the request's body short (the access line says)
        self.rate = RateWindow(fd.settings.min_upload_rate_bytes, fd.settings.min_upload_rate_window_s, fd.monotonic)
        self.proto = protocol_for(dict(self.request.headers), fd.settings)
        self._protocol_headers()

    def set_default_headers(self) -> None:
        super().set_default_headers()
        if hasattr(self, "proto"):  # clear() (an error answer) calls this again: keep protocol and CORS headers
            self._protocol_headers()

    def _protocol_headers(self) -> None:
        for name, value in self.proto.common().items():
            self.set_header(name, value)
        origin = self.request.headers.get("Origin")
        allowed = self.fd.settings.cors_origins
        if origin and ("*" in allowed or origin in allowed):
            self.set_header("Access-Control-Allow-Origin", origin)
            self.add_header("Vary", "Origin")
            self.set_header("Access-Control-Expose-Headers", EXPOSED)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self.body_bytes += len(chunk)
        self.rate.record(len(chunk))
        self.last_byte = time.monotonic()
        a = self.append
        if a is None or a.ended or self.refusal is not None:
            if self.body_bytes > self.fd.settings.drain_limit_bytes:
                self.connection.close()
            return None
        if a.received + len(chunk) > self.reserved_until:
            return self._reserve_then_write(a, chunk)
        return self._write(a, chunk)

    async def _reserve_then_write(self, a: Append, chunk: bytes) -> None:
        """The bytes reach the end of this request's look-ahead: get the next stretch (or 507), then write."""
        s = self.fd.settings
        target = a.received + len(chunk)
        until = next_reserved_until(target, body_length(dict(self.request.headers)), s.spool_lookahead_bytes)
        self.rate.pause()  # our statvfs, not the client's slowness
        try:
            problem = await self.fd.call(space_problem, s, until - a.received,
                                         outstanding(self.fd.inflight, exclude=self))
        finally:
            self.rate.resume()
        if a.ended or self.refusal is not None:
            return  # cut or refused meanwhile: the rest is drained
        if problem is not None:
            self.refusal = insufficient_storage(problem)
            return
        self.reserved_until = until
        pending = self._write(a, chunk)
        if pending is not None:
            await pending

    def _write(self, a: Append, chunk: bytes) -> Awaitable[None] | None:
        try:
            pending = a.write(chunk)
        except ApiError as error:
            self.refusal = error
            return None
        except LeaseLost:
            self.refusal = upload_locked()
            return None
        except Exception:  # never raise from here: Tornado would close the connection with no answer
            log.exception("upload_write_failed", extra={"fields": {"requestId": self.request_id}})
            self.refusal = ApiError(500, "internal", "Something went wrong on our side; it has been logged.")
            return None
        return self._wait(pending) if pending is not None else None

    async def _wait(self, pending: Awaitable[None]) -> None:
        self.rate.pause()  # Tornado reads nothing while we wait for the disk: the client is not slow meanwhile
        try:
            await pending
            self.last_byte = time.monotonic()  # time spent waiting for the disk is not the client's idleness
        except LeaseLost:
            self.refusal = upload_locked()
        except OSError as exc:
            self.refusal = insufficient_storage(f"Writing the spool file failed: {exc.strerror}")
        except Exception:
            log.exception("upload_write_failed", extra={"fields": {"requestId": self.request_id}})
            self.refusal = ApiError(500, "internal", "Something went wrong on our side; it has been logged.")
        finally:
            self.rate.resume()

    def _not_allowed(self) -> ApiError:
        return method_not_allowed(self.request.method or "", self.allowed_methods())

    def _answer(self, status: int, headers: dict[str, str]) -> None:
        self.set_status(status)
        for name, value in headers.items():
            self.set_header(name, value)
        self.finish()

    def send_api_error(self, error: ApiError) -> None:
        error.headers = {**self.proto.error_headers(error), **error.headers}
        super().send_api_error(error)

    def bytes_still_expected(self) -> int:
        """Spool bytes this request holds beyond what it has written: its look-ahead (see frontdoor.space)."""
        a = self.append
        if a is None or a.ended:
            return 0
        return max(0, self.reserved_until - a.received)

    @property
    def connection(self) -> HTTP1Connection:
        conn = self.request.connection
        assert isinstance(conn, HTTP1Connection)
        return conn


def body_length(headers: dict[str, str]) -> int | None:
    """The request's body length from ``Content-Length``; None when absent or malformed."""
    raw = headers.get("Content-Length", "")
    return int(raw) if raw.isdigit() else None
