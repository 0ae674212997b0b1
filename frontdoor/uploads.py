"""``/api/uploads`` and ``/api/uploads/{jobId}``: resumable uploads over tus 1.0.0 and the IETF draft.

One handler for both protocols (``frontdoor.tus`` picks one per request by its headers and translates); the
work is the upload core's (``frontdoor.core``). This module admits each request and answers its method; bodies
(PATCH, creation-with-upload) stream into an :class:`frontdoor.append.Append` with backpressure
(:mod:`frontdoor.uploads_body`); early endings are :mod:`frontdoor.uploads_watch`'s. A request that will be
refused is answered only after its body is drained (bounded by FOCALPOINT_DRAIN_LIMIT), as on
``POST /api/upload``: an early answer is a reset at a proxy, which clients retry. A request that goes away,
stalls past FOCALPOINT_INGEST_IDLE_TIMEOUT, or is taken over by a newer request for the same upload still writes
out and records every byte it received.
"""

from __future__ import annotations

import logging
import time

import tornado.web
from tornado.ioloop import PeriodicCallback

from focalpoint_upload.frontdoor.append import Append, Checksum, Ended
from focalpoint_upload.frontdoor.context import Frontdoor
from focalpoint_upload.frontdoor.core import NewUpload, Offset, UploadCore
from focalpoint_upload.frontdoor.errors import (
    ApiError,
    insufficient_storage,
    method_not_allowed,
    too_large,
    unavailable,
)
from focalpoint_upload.frontdoor.resource import expires_at
from focalpoint_upload.frontdoor.space import next_reserved_until, outstanding, space_problem
from focalpoint_upload.frontdoor.transfer_rate import RateWindow
from focalpoint_upload.frontdoor.tus import ALLOWED_HEADERS
from focalpoint_upload.frontdoor.upload_slots import principal_key, take
from focalpoint_upload.frontdoor.uploads_body import body_length
from focalpoint_upload.frontdoor.uploads_watch import WatchedResumable
from focalpoint_upload.jobs import Job, State, StoreUnavailable

log = logging.getLogger("focalpoint.frontdoor")
TICK_S = 1.0


@tornado.web.stream_request_body
class UploadsHandler(WatchedResumable):
    """Both routes; :class:`UploadCollection` and :class:`UploadItem` say which methods each one serves."""

    SUPPORTED_METHODS = ("OPTIONS", "POST", "HEAD", "PATCH", "DELETE")
    ALLOWED: tuple[str, ...] = ()

    @classmethod
    def allowed_methods(cls) -> tuple[str, ...]:
        return cls.ALLOWED

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
            await self._open(job.job_id, 0, body_length(headers), checksum.checksum)

    async def _open_patch(self, job_id: str, headers: dict[str, str]) -> None:
        a = self.proto.append(headers)
        await self._take_slots()
        self.append = await self._open(job_id, a.offset, body_length(headers), a.checksum)
        body = body_length(headers)
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
