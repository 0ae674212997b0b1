"""``/api/uploads`` and ``/api/uploads/{jobId}``: resumable uploads over tus 1.0.0 and the IETF draft.

One handler for both protocols (``frontdoor.tus`` picks one per request by its headers and translates); the
work is the upload core's (``frontdoor.core``). Bodies (PATCH, creation-with-upload) stream into an
:class:`frontdoor.append.Append` with backpressure. A request that will be refused is answered only after its
body is drained (bounded by FOCALPOINT_DRAIN_LIMIT), as on ``POST /api/upload``: an early answer is a reset at a
proxy, which clients retry. A request that goes away, stalls past FOCALPOINT_INGEST_IDLE_TIMEOUT, or is taken
over by a newer request for the same upload still writes out and records every byte it received.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable

import tornado.web
from tornado.http1connection import HTTP1Connection
from tornado.ioloop import IOLoop, PeriodicCallback

from focalpoint_upload.frontdoor.append import Append, Checksum, Ended
from focalpoint_upload.frontdoor.appendfile import LeaseLost
from focalpoint_upload.frontdoor.context import Frontdoor
from focalpoint_upload.frontdoor.core import NewUpload, Offset, UploadCore
from focalpoint_upload.frontdoor.errors import (
    ApiError,
    client_too_slow,
    insufficient_storage,
    method_not_allowed,
    too_large,
    unavailable,
    upload_locked,
)
from focalpoint_upload.frontdoor.resource import expires_at
from focalpoint_upload.frontdoor.space import next_reserved_until, outstanding, space_problem
from focalpoint_upload.frontdoor.streaming import StreamingHandler
from focalpoint_upload.frontdoor.transfer_rate import RateWindow
from focalpoint_upload.frontdoor.tus import ALLOWED_HEADERS, EXPOSED, protocol_for
from focalpoint_upload.frontdoor.upload_slots import principal_key, take
from focalpoint_upload.jobs import Job, State, StoreUnavailable

log = logging.getLogger("focalpoint.frontdoor")
access_log = logging.getLogger("focalpoint.access")
TICK_S = 1.0


@tornado.web.stream_request_body
class UploadsHandler(StreamingHandler):
    """Both routes; :class:`UploadCollection` and :class:`UploadItem` say which methods each one serves."""

    SUPPORTED_METHODS = ("OPTIONS", "POST", "HEAD", "PATCH", "DELETE")
    ALLOWED: tuple[str, ...] = ()

    @classmethod
    def allowed_methods(cls) -> tuple[str, ...]:
        return cls.ALLOWED

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

    # --- admission, before the body ---------------------------------------------------------------------------
    async def prepare(self) -> None:
        s = self.fd.settings
        self.append: Append | None = None
        self.refusal: ApiError | None = None
        self.location: str | None = None
        self.created: Job | None = None
        self.offset = None
        self.body_bytes = 0
        self.body_done = False
        self.last_byte = time.monotonic()
        self.keeping = False
        self.reserved_until = 0  # body bytes this request may write before it asks for more space
        self.connection.set_max_body_size(max(s.drain_limit_bytes, s.max_append_bytes + 1024 * 1024))
        method, headers = self.request.method, dict(self.request.headers)
        if method == "OPTIONS":
            return  # a CORS preflight carries no credentials; it learns only what the protocol publishes
        owner = self.authenticate().key  # 401 before anything else, and before any body byte is read
        length = headers.get("Content-Length", "")
        if length.isdigit() and int(length) > s.drain_limit_bytes:
            raise too_large(s.max_append_bytes)  # too big even to drain: answered at once
        if method == "POST" and self.path_args and headers.get("X-Http-Method-Override", "").upper() == "PATCH":
            method = "PATCH"  # tus-js-client's overridePatchMethod, for stacks without PATCH
        try:
            if method not in self.allowed_methods():  # drained and answered like any refusal
                self.refusal = method_not_allowed(self.request.method or "", self.allowed_methods())
            else:
                self.refusal = self.proto.check(headers)
            if self.refusal is None and method in ("POST", "PATCH") and not self.fd.accepting:
                self.refusal = unavailable("The service is shutting down; send this again in a moment.")
            if self.refusal is None and self.path_args:
                await self.core.paced(self.path_args[0], owner)
            if self.refusal is None and method == "POST" and not self.path_args:
                await self._create(headers)
            elif self.refusal is None and method == "PATCH" and self.path_args:
                await self._open_patch(self.path_args[0], headers)
        except ApiError as error:
            self.refusal = error
        except StoreUnavailable:
            log.error("store_unavailable", extra={"fields": {"requestId": self.request_id}})
            self.refusal = unavailable("The job store is unreachable; try again shortly.")
        if self.append is not None:
            self.fd.inflight.add(self)  # shutdown waits for it; admission counts its look-ahead
        else:
            self._release_slots()  # refused or nothing to stream: a drained request holds no upload slot
        # The minimum rate is judged from here (admission's own Redis calls are not the client's time), for a
        # body that is drained as much as for one that is written.
        self.rate = RateWindow(s.min_upload_rate_bytes, s.min_upload_rate_window_s, self.fd.monotonic)
        if method in ("POST", "PATCH"):
            self.ticker = PeriodicCallback(self._tick, TICK_S * 1000)
            self.ticker.start()

    async def _create(self, headers: dict[str, str]) -> None:
        c = self.proto.creation(headers)
        body = self.proto.has_body(headers)
        if body:
            await self._take_slots()  # before the job is made: a refused creation makes nothing
        p = self.principal
        job, made = await self.core.create(NewUpload(c.length, c.attempt_id, c.file_name, c.media_type,
                                                     self.client_ip(), self.request_id, owner=p.key,
                                                     limit_owner=p.limit_owner, limit=self.upload_limit()))
        self.location, self.created = f"/api/uploads/{job.job_id}", job
        if made and body:
            checksum = self.proto.append({**headers, "Upload-Offset": "0", "Content-Type": self.proto.body_type})
            await self._open(job.job_id, 0, _length(headers), checksum.checksum)

    async def _open_patch(self, job_id: str, headers: dict[str, str]) -> None:
        a = self.proto.append(headers)
        await self._take_slots()
        self.append = await self._open(job_id, a.offset, _length(headers), a.checksum)
        body = _length(headers)
        if a.complete and body is not None and a.offset + body != self.append.total:
            self.refusal = ApiError(400, "mismatching_length", "Upload-Complete: ?1, but this body does not end "
                                                               f"the upload's {self.append.total} bytes.")

    async def _take_slots(self) -> None:
        """The cap on uploads streaming at once (per IP and principal), as for ``POST /api/upload``: 429."""
        held = await take(self.fd, principal_key(self), self.client_ip())
        if isinstance(held, ApiError):
            raise held
        self.slots = held

    async def _open(self, job_id: str, offset: int, body: int | None, checksum: Checksum | None) -> Append:
        """Open the append after checking that this request's bytes fit beside the look-ahead running uploads
        hold (507 otherwise, before the body); the request then holds a look-ahead of its own."""
        s = self.fd.settings
        first = next_reserved_until(0, body, s.spool_lookahead_bytes)
        problem = await self.fd.call(space_problem, s, body if body is not None else first,
                                     outstanding(self.fd.inflight))
        if problem is not None:
            raise insufficient_storage(problem)
        self.append = await self.core.open_append(job_id, self.principal.key, offset, body, checksum)
        self.reserved_until = first
        return self.append

    # --- body ---------------------------------------------------------------------------------------------
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
        until = next_reserved_until(target, _length(dict(self.request.headers)), s.spool_lookahead_bytes)
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

    # --- answers ------------------------------------------------------------------------------------------
    def options(self, job_id: str | None = None) -> None:
        self.set_status(204)
        for name, value in self.proto.options().items():
            self.set_header(name, value)
        if self.request.headers.get("Access-Control-Request-Method") and self._headers.get(
                "Access-Control-Allow-Origin"):
            self.set_header("Access-Control-Allow-Methods", "POST, HEAD, PATCH, DELETE, OPTIONS")
            self.set_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
            self.set_header("Access-Control-Max-Age", "86400")
        self.finish()

    async def post(self, job_id: str | None = None) -> None:
        if self._finished:
            return  # answered while the body streamed (client_too_slow)
        if job_id is not None:
            if self.request.headers.get("X-HTTP-Method-Override", "").upper() == "PATCH":
                await self.patch(job_id)
                return
            self.send_api_error(self.refusal or self._not_allowed())
            return
        ended = await self._end()
        if self.refusal is not None and (ended is None or ended.error is None):
            self.send_api_error(self.refusal)
            return
        if ended is not None and ended.error is not None:
            self.send_api_error(ended.error)
            return
        assert self.location is not None and self.created is not None
        if ended is not None:
            job, done = ended.job, ended.offset
        else:  # no body (or an attempt created before): the record's offset, for the client to carry on from
            job = self.created
            done = job.bytes_received if job.state is State.SPOOLING else (job.bytes_total or 0)
        offset = Offset(job, done, self.created.bytes_total or 0, expires_at(job, self.fd.settings.upload_expiry_s))
        self._answer(*self.proto.created(self.location, offset))

    async def head(self, job_id: str | None = None) -> None:
        if job_id is None or self.refusal is not None:
            self.send_api_error(self.refusal or self._not_allowed())
            return
        offset = await self.core.head(job_id, self.principal.key)
        self.offset = offset.offset
        self._answer(*self.proto.head(offset))

    async def patch(self, job_id: str | None = None) -> None:
        if self._finished:
            return  # answered while the body streamed (client_too_slow)
        ended = await self._end()
        if ended is None or ended.error is not None:
            self.send_api_error((ended.error if ended else None) or self.refusal or self._not_allowed())
            return
        self.offset = ended.offset
        self._answer(*self.proto.appended(ended, expires_at(ended.job, self.fd.settings.upload_expiry_s)))

    async def delete(self, job_id: str | None = None) -> None:
        if job_id is None or self.refusal is not None:
            self.send_api_error(self.refusal or self._not_allowed())
            return
        await self.core.cancel(job_id, self.principal.key)
        self.set_status(204)
        self.finish()

    async def _end(self) -> Ended | None:
        """End the append (if any) now that the body is complete; a refusal throws its bytes away."""
        self.body_done = True
        self._stop_ticker()
        a = self.append
        if a is None or a.ended:
            return None
        return await a.end(cut=False, refused=self.refusal)

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

    # --- cut, idle, takeover ------------------------------------------------------------------------------
    def on_connection_close(self) -> None:
        super().on_connection_close()  # ends Tornado's wait for the body, so the request's task does not linger
        if not self.body_done:
            IOLoop.current().add_callback(self._end_cut)

    async def _end_cut(self) -> None:
        self.body_done = True
        self._stop_ticker()
        try:
            await self._keep_what_came()
        finally:
            self._access(499)

    async def _keep_what_came(self) -> None:
        """End the append as cut (the bytes that came are written out and counted, the offset moves to them),
        then let go of the request's in-flight entry and upload slots, even if ending the append fails."""
        a = self.append
        try:
            if a is not None and not a.ended:
                ended = await a.end(cut=True)
                self.offset = ended.offset
        finally:
            self.fd.inflight.discard(self)
            self._release_slots()

    def _tick(self) -> None:
        if self.body_done or self._finished:
            return
        if self.rate.too_slow():
            self._too_slow()
            return
        now = time.monotonic()
        self._renew_slots(now)
        IOLoop.current().add_callback(self._keep)

    def _too_slow(self) -> None:
        """The body arrives below FOCALPOINT_MIN_UPLOAD_RATE: answer 408 client_too_slow and close, as
        ``POST /api/upload`` does, but the upload is not failed: the bytes that came are written out and
        counted (as for a cut connection), and the client HEADs and resumes from there."""
        self.body_done = True
        self._stop_ticker()
        self.cut = "too_slow"
        IOLoop.current().add_callback(self._answer_too_slow)

    async def _answer_too_slow(self) -> None:
        s = self.fd.settings
        await self._keep_what_came()
        if not self._finished:
            # Answering before the body is complete makes Tornado close the connection once the answer is out.
            self.send_api_error(client_too_slow(s.min_upload_rate_bytes, s.min_upload_rate_window_s))

    async def _keep(self) -> None:
        a = self.append
        if a is None or a.ended or self.body_done or self.keeping:
            return
        idle = time.monotonic() - self.last_byte
        self.keeping = True  # one renewal at a time, however slow Redis is
        try:
            stop = idle > self.fd.settings.ingest_idle_timeout_s or not await a.keep()
        finally:
            self.keeping = False
        if stop and not self.body_done and not a.ended:  # stalled, or taken over: stop reading, keep what came
            self.cut = "idle"
            self.connection.close()  # no on_connection_close follows: Tornado clears its callbacks
            super().on_connection_close()  # ...so end Tornado's wait for the body here
            await self._end_cut()

    def on_finish(self) -> None:
        self._stop_ticker()
        self.fd.inflight.discard(self)
        self._release_slots()
        a = self.append
        if a is not None and not a.ended:  # answered without ending the append (an error path): let go of it
            IOLoop.current().add_callback(a.end, cut=True)
        self._access(self.get_status())

    def bytes_still_expected(self) -> int:
        """Spool bytes this request holds beyond what it has written: its look-ahead (see frontdoor.space)."""
        a = self.append
        if a is None or a.ended:
            return 0
        return max(0, self.reserved_until - a.received)

    def _access(self, status: int) -> None:
        """The one structured line per request (as ``frontdoor.access`` writes for ``POST /api/upload``)."""
        if self.logged:
            return
        self.logged = True
        a = self.append
        fields = {"requestId": self.request_id, "method": self.request.method, "path": self.request.path,
                  "protocol": "ietf-draft" if self.proto.draft else "tus", "status": status,
                  "jobId": a.job.job_id if a is not None else (self.path_args[0] if self.path_args else None),
                  "bytesReceived": self.body_bytes, "offset": self.offset, "cut": self.cut,
                  "durationMs": round((time.monotonic() - self.started) * 1000, 1),
                  "remoteIp": self.request.remote_ip}
        access_log.info("upload_request", extra={"fields": fields})
        if self.fd.metrics is not None and self.request.method in ("PATCH", "POST"):
            self.fd.metrics.access_line({**fields, "outcome": "resumable"})

    @property
    def connection(self) -> HTTP1Connection:
        conn = self.request.connection
        assert isinstance(conn, HTTP1Connection)
        return conn


def _length(headers: dict[str, str]) -> int | None:
    raw = headers.get("Content-Length", "")
    return int(raw) if raw.isdigit() else None


class UploadCollection(UploadsHandler):
    """``/api/uploads``: creation (and the protocol's OPTIONS)."""

    ALLOWED = ("OPTIONS", "POST")


class UploadItem(UploadsHandler):
    """``/api/uploads/{jobId}``: offset, append, termination (POST only as tus's X-HTTP-Method-Override)."""

    ALLOWED = ("OPTIONS", "HEAD", "PATCH", "DELETE")


def upload_routes(fd: Frontdoor, core: UploadCore) -> list[tuple[str, type, dict[str, object]]]:
    args = {"fd": fd, "core": core}
    return [(r"/api/uploads", UploadCollection, args),
            (r"/api/uploads/([A-Za-z0-9_-]{1,64})", UploadItem, args)]
