"""The body of ``POST /api/upload`` (:mod:`frontdoor.upload`): bytes go through the body parser into the spool,
within this upload's look-ahead of free space (:mod:`frontdoor.space`), or are drained for a request that will be
refused or replayed (bounded by FOCALPOINT_DRAIN_LIMIT). Any failure refuses the request (:meth:`SpoolingBody._refuse`):
the spool is dropped, the job FAILED (its attempt free again), the rest drained, the answer given after it.

Nothing here raises into Tornado: an exception in ``data_received`` would close the connection with no answer and
escape its error reporting (field notes); a bug becomes a Sentry event and a 500 after the drain.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from tornado.http1connection import HTTP1Connection
from tornado.ioloop import IOLoop

from focalpoint_upload.frontdoor.access import AccessLog
from focalpoint_upload.frontdoor.admission import Known, drain_allowance, replay_or_conflict
from focalpoint_upload.frontdoor.context import Frontdoor
from focalpoint_upload.frontdoor.errors import ApiError, insufficient_storage, too_large
from focalpoint_upload.frontdoor.ingest import BodyParser
from focalpoint_upload.frontdoor.space import next_reserved_until, outstanding, space_problem
from focalpoint_upload.frontdoor.spool import SpoolWriter
from focalpoint_upload.frontdoor.streaming import StreamingHandler
from focalpoint_upload.frontdoor.transfer_rate import RateWindow
from focalpoint_upload.frontdoor.upload_life import DRAINING, Life, Move, advance
from focalpoint_upload.jobs import (
    ErrorCode,
    Event,
    IllegalTransition,
    Job,
    JobNotFound,
    StaleJob,
    State,
    StoreUnavailable,
    failure,
)
from focalpoint_upload.observability.sentry import capture_exception

log = logging.getLogger("focalpoint.frontdoor")
INTERNAL = "Something went wrong on our side; it has been logged."


class SpoolingBody(StreamingHandler):
    """The request's state and its body path. Its life is :attr:`life` (:mod:`frontdoor.upload_life`), moved
    only by :meth:`_move`. What each state holds: STREAMING and COMPLETING the SPOOLING :attr:`job`, its
    :attr:`parser` and (until finished) :attr:`spool`; REPLAYING the :attr:`known` attempt; REFUSED the
    :attr:`refusal`."""

    rate: RateWindow

    def initialize(self, fd: Frontdoor) -> None:
        # Set here, not in prepare(): an error Tornado answers before prepare() still ends in on_finish().
        super().initialize(fd)
        self.access = AccessLog(self)
        self.life = Life.HEADERS
        self.attempt_id: str | None = None
        self.job: Job | None = None  # the latest record of the job this request spools into
        self.parser: BodyParser | None = None
        self.known: Known | None = None
        self.refusal: ApiError | None = None
        self.spool: SpoolWriter | None = None
        self.last_byte_mono = time.monotonic()
        self.progress_at = 0.0
        self.progress_busy = False
        self.reserved_until = 0  # spool offset this upload may write up to without asking for more space
        self.drain_from = 0  # body bytes read when the request was refused; the drain counts from there

    def _move(self, move: Move) -> None:
        self.life = advance(self.life, move)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        # Never raise from here: Tornado would close the connection with no answer and the error would escape
        # its reporting (field notes). A bug becomes a Sentry event and a 500 after the body is drained.
        try:
            pending = self._receive(chunk)
        except Exception as exc:
            pending = self._internal_error(exc, "data_received")
        return self._guarded(pending) if pending is not None else None

    async def _guarded(self, pending: Awaitable[None]) -> None:
        """Await what data_received handed back; whatever it raises is reported, never left to Tornado."""
        try:
            await pending
        except Exception as exc:
            await self._internal_error(exc, "body")

    def _internal_error(self, exc: Exception, where: str) -> Awaitable[None]:
        log.error("upload_internal_error", exc_info=exc, extra={"fields": {"requestId": self.request_id,
                                                                           "where": where}})
        capture_exception(exc, where=where, requestId=self.request_id, **self.access_fields())
        return self._refuse(ApiError(500, "internal", INTERNAL))

    def _receive(self, chunk: bytes) -> Awaitable[None] | None:
        self.access.body_bytes += len(chunk)
        self.rate.record(len(chunk))
        self.last_byte_mono = time.monotonic()
        self.access.last_byte_at = self.fd.clock()
        if self.life is not Life.STREAMING:
            if self.life is Life.REPLAYING and self.known is not None and self.known.replay is not None:
                self.known.replay.feed(chunk)
            if self.life in DRAINING and self.access.body_bytes - self.drain_from > drain_allowance(self.fd.settings):
                self._drain_exceeded()
            return None
        assert self.spool is not None
        try:
            pieces = self.parser.feed(chunk) if self.parser is not None else [chunk]
        except ApiError as error:
            return self._refuse(error)
        target = self.spool.size + sum(len(piece) for piece in pieces)
        if self.reserved_until < target <= self.fd.settings.max_upload_bytes:
            return self._reserve_then_write(pieces, target)
        return self._write_pieces(pieces)

    def _write_pieces(self, pieces: Sequence[bytes | bytearray | memoryview]) -> Awaitable[None] | None:
        assert self.spool is not None
        try:
            waits = []
            for piece in pieces:
                if self.spool.size + len(piece) > self.upload_limit():
                    raise too_large(self.upload_limit())
                wait = self.spool.write(piece)
                if wait is not None:
                    waits.append(wait)
        except ApiError as error:
            return self._refuse(error)
        return self._await_writes(waits) if waits else None

    async def _reserve_then_write(self, pieces: Sequence[bytes | bytearray | memoryview], target: int) -> None:
        """The bytes reach the end of this upload's look-ahead: get the next stretch (or fail 507), then write."""
        s, job, spool = self.fd.settings, self.job, self.spool
        assert job is not None and spool is not None
        until = next_reserved_until(target, job.bytes_total, s.spool_lookahead_bytes)
        others = outstanding(self.fd.inflight, exclude=self)
        self.rate.pause()  # our statvfs, not the client's slowness
        try:
            problem = await self.fd.call(space_problem, s, until - spool.size, others)
        finally:
            self.rate.resume()
        if self.life is not Life.STREAMING:
            return  # failed or cut meanwhile: the rest is drained
        if problem is not None:
            await self._refuse(insufficient_storage(problem))
            return
        self.reserved_until = until
        pending = self._write_pieces(pieces)
        if pending is not None:
            await pending

    async def _await_writes(self, waits: list[Awaitable[None]]) -> None:
        self.rate.pause()  # Tornado reads nothing while we wait for the disk: the client is not slow meanwhile
        try:
            for wait in waits:
                await wait
            # While we waited for the disk, Tornado read nothing: that time is ours, not the client's idleness.
            self.last_byte_mono = time.monotonic()
        except OSError as exc:
            await self._refuse(insufficient_storage(f"Writing the spool file failed: {exc.strerror}"))
        except Exception as exc:
            await self._internal_error(exc, "spool_write")
        finally:
            self.rate.resume()

    async def _refuse(self, error: ApiError) -> None:
        """The answer becomes ``error``. An admitted upload drops its spool and fails its job (freeing its
        attempt); the rest of the body is drained. An answered or aborted request is left alone."""
        job, spool = self.job, self.spool
        if self.life in (Life.STREAMING, Life.COMPLETING):
            self._move(Move.FAIL)
            self.job, self.spool = None, None
        elif self.life in DRAINING:
            self._move(Move.REFUSE)
            job, spool = None, None
        else:
            return
        self.refusal, self.known = error, None
        self.drain_from = self.access.body_bytes
        if spool is not None:
            await spool.abort()
        if job is not None:
            await self._fail_job(job.job_id, error.code, error.message)

    async def _fail_job(self, job_id: str, code: str, message: str) -> None:
        """FAILED with an ingest code: the attempt is free again (the next request of it takes it over). A code
        that is no job's (``job_cancelled``: the job has ended already) leaves the job alone."""
        job_code = ErrorCode.parse(code)
        if job_code is None:
            return
        try:
            await self.fd.store.transition(job_id, Event.FAIL, expect=State.SPOOLING, **failure(job_code, message))
        except (StaleJob, IllegalTransition, JobNotFound):
            pass  # cancelled or failed by someone else already
        except StoreUnavailable:
            pass  # the job stays SPOOLING without progress: the sweeper fails it

    def _drain_exceeded(self) -> None:
        """A refused body goes on past what we drain: answer now (the connection then closes) rather than cut
        it silently; a direct client reads the answer, a proxy may not (field notes)."""
        self.access.cut = "drain_limit"
        self._stop_ticker()
        known = self._end_drain()
        if known is not None:
            IOLoop.current().add_callback(self._answer_known, known)

    def _end_drain(self) -> Known | None:
        """A drained request reads no more body: answer its refusal now, or hand back the known attempt whose
        answer needs a store read (:meth:`_answer_known`)."""
        refusal, known = self.refusal, self.known
        self._move(Move.BODY_END)
        if refusal is None and known is not None:
            return known
        assert refusal is not None
        self.send_api_error(refusal)
        return None

    async def _answer_known(self, known: Known) -> None:
        """Answer a drained request for an attempt that already has a job: replay it, or 409 if still streaming."""
        job = await self.fd.store.get(known.job.job_id)
        answer = replay_or_conflict(job, self.fd.settings, self.fd.clock(), known.replay)
        if isinstance(answer, ApiError):
            self.access.outcome = "conflict"
            self.send_api_error(answer)
            return
        self.access.outcome = "replayed"
        self.set_header("Idempotent-Replayed", "true")
        self.set_header("Location", f"/api/upload/status?jobId={answer.job_id}")
        self.write_json(200, answer.receipt())

    def bytes_still_expected(self) -> int:
        """Spool bytes this upload holds beyond what it has written: its look-ahead (see frontdoor.space)."""
        spool = self.spool
        if self.life not in (Life.STREAMING, Life.COMPLETING) or spool is None:
            return 0
        return max(0, self.reserved_until - spool.size)

    @property
    def connection(self) -> HTTP1Connection:
        conn = self.request.connection
        assert isinstance(conn, HTTP1Connection)
        return conn

    def send_api_error(self, error: ApiError) -> None:
        if self.access.outcome is None:
            self.access.outcome = "refused"
            self.access.error = error.code
        super().send_api_error(error)

    def access_fields(self) -> dict[str, Any]:
        job_id = self.job.job_id if self.job is not None else (self.known.job.job_id if self.known else None)
        return {"attemptId": self.attempt_id, "jobId": job_id}
