"""``POST /api/upload``: stream the body to a spool file and answer 202 the moment it is complete.

The request never waits for Gemini. Its life (:mod:`frontdoor.upload_life`) is decided in ``prepare`` (see
:mod:`frontdoor.admission`):

- *spool*: a new job in SPOOLING; body bytes go through the body parser into the spool writer; at the end the
  file is fsynced and renamed, the job becomes SPOOLED, the actors get it, and the client gets 202.
- *drain*: the request will be answered without spooling (replay, 409, 4xx, 429, 503). Its body is read and
  discarded, bounded by FOCALPOINT_DRAIN_LIMIT, before the answer: a proxy that gets its answer before it has
  sent the whole body turns it into a 502 and the browser re-sends (field notes).

A client that goes away (or stops sending for FOCALPOINT_INGEST_IDLE_TIMEOUT) before the last byte leaves a
FAILED job with ``client_aborted``, no partial file, and a free attemptId. A body slower than
FOCALPOINT_MIN_UPLOAD_RATE (:mod:`frontdoor.transfer_rate`) is answered 408 ``client_too_slow`` at once and the
connection closed, leaving the same: a FAILED job (``client_too_slow``), no file, a free attemptId.

Space: the upload holds what it has written plus a look-ahead that grows with what arrived
(:mod:`frontdoor.space`); it asks for more as its bytes reach the end of it, and fails 507 when none is left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any

import tornado.web
from tornado.http1connection import HTTP1Connection
from tornado.ioloop import IOLoop, PeriodicCallback

from focalpoint_upload.frontdoor.access import AccessLog
from focalpoint_upload.frontdoor.admission import (
    MULTIPART_OVERHEAD,
    Admitted,
    Ask,
    Decision,
    Known,
    Refused,
    admit,
    content_length,
    drain_allowance,
    replay_or_conflict,
)
from focalpoint_upload.frontdoor.context import Frontdoor
from focalpoint_upload.frontdoor.errors import (
    ApiError,
    client_too_slow,
    empty_file,
    insufficient_storage,
    method_not_allowed,
    too_large,
    unavailable,
)
from focalpoint_upload.frontdoor.ingest import BodyParser
from focalpoint_upload.frontdoor.space import next_reserved_until, outstanding, space_problem
from focalpoint_upload.frontdoor.spool import SpoolWriter, remove_spool
from focalpoint_upload.frontdoor.streaming import StreamingHandler
from focalpoint_upload.frontdoor.transfer_rate import RateWindow
from focalpoint_upload.frontdoor.upload_life import DRAINING, TAKES_BODY, TERMINAL, Life, Move, advance
from focalpoint_upload.frontdoor.upload_slots import give_back
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
PROGRESS_EVERY_S = 1.0
MiB = 1024 * 1024


def _expects_continue(headers: Any) -> bool:
    return str(headers.get("Expect", "")).strip().lower() == "100-continue"


INTERNAL = "Something went wrong on our side; it has been logged."


@tornado.web.stream_request_body
class UploadHandler(StreamingHandler):
    """One request's life is :attr:`life`, moved only by :meth:`_move`. What each state holds: STREAMING and
    COMPLETING the SPOOLING :attr:`job`, its :attr:`parser` and (until finished) :attr:`spool`; REPLAYING the
    :attr:`known` attempt; REFUSED the :attr:`refusal`."""

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

    async def prepare(self) -> None:
        self.authenticate()  # 401 before anything else, and before any body byte is read
        s = self.fd.settings
        # Our own limits are enforced below (413 for the file, the drain bound for refusals); Tornado's only
        # backstops them above anything we drain, so that its bare 400 never answers a request we could answer.
        self.connection.set_max_body_size(s.max_upload_bytes + MULTIPART_OVERHEAD + drain_allowance(s) + MiB)
        decision: Decision
        if not self.method_allowed():
            # Drained and answered like any refusal (after the body, the method's stub raises the 405 that the
            # base handler renders): the connection stays usable for the next request; nothing is claimed.
            decision = Refused(method_not_allowed(self.request.method or "", self.allowed_methods()))
        else:
            try:
                decision = await admit(Ask(self.request.headers, self.principal, self.client_ip(), self.request_id,
                                           self.upload_limit()), self.fd)
            except StoreUnavailable:
                # Answer 503 after draining like any refusal: an early answer is a 502 at the proxy (field notes).
                log.error("store_unavailable", extra={"fields": {"requestId": self.request_id}})
                decision = Refused(unavailable("The job store is unreachable; try again shortly."))
        if self.life is not Life.HEADERS:  # the client left while admission ran
            await self._abandon(decision)
            return
        if isinstance(decision, Refused) and decision.at_once:
            raise decision.error  # too big even to drain: answered at once, connection closed
        self.attempt_id = decision.attempt_id
        # The minimum rate is judged from here: admission's own Redis calls are not the client's time.
        self.rate = RateWindow(s.min_upload_rate_bytes, s.min_upload_rate_window_s, self.fd.monotonic)
        if isinstance(decision, Admitted):
            self._move(Move.ADMIT)
            self.job, self.parser, self.slots = decision.job, decision.parser, decision.slots
            self.reserved_until = next_reserved_until(0, decision.job.bytes_total, s.spool_lookahead_bytes)
            self.fd.inflight.add(self)
            self.spool = SpoolWriter(s.spool_dir, decision.job.job_id, self.fd.executor)
            try:
                await self.spool.open()
            except OSError as exc:
                await self._refuse(insufficient_storage(f"The spool file could not be created: {exc.strerror}"))
        else:
            if isinstance(decision, Known):
                self._move(Move.KNOWN)
                self.known = decision
            else:
                self._move(Move.REFUSE)
                self.refusal = decision.error
            replay = decision.replay if isinstance(decision, Known) else None
            length = content_length(self.request.headers.get("Content-Length"))
            if _expects_continue(self.request.headers) and (replay is None or replay.settle_by_headers(length)):
                # The client waits for "100 Continue" before it sends the body. Tornado sends it once prepare()
                # returns, unless the answer is written already: so answer a refusal (or a replay its headers
                # decide) now, body unsent. A multipart replay needs its body to be checked against the job.
                known = self._end_drain()
                if known is not None:
                    await self._answer_known(known)
                return
        if self.life in TAKES_BODY:
            interval = min(PROGRESS_EVERY_S, s.ingest_idle_timeout_s / 2) * 1000
            self.ticker = PeriodicCallback(self._tick, interval)
            self.ticker.start()

    async def _abandon(self, decision: Decision) -> None:
        """Admission ended after the client had gone: give back what it took; an admitted job fails at once
        (its attempt is free again) instead of waiting for the sweeper."""
        if isinstance(decision, Admitted):
            await give_back(self.fd, decision.slots)
            await self._fail_job(decision.job.job_id, "client_aborted",
                                 "The client closed the connection before the upload finished.")

    # --- body ---------------------------------------------------------------------------------------------
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

    async def post(self) -> None:
        self._stop_ticker()
        if self.life in DRAINING:
            known = self._end_drain()
            if known is not None:
                await self._answer_known(known)
            return
        if self.life is not Life.STREAMING:
            return  # answered already (the drain limit, a slow client)
        self._move(Move.BODY_END)  # from here on no progress write may touch the job or the spool
        job, spool, parser = self.job, self.spool, self.parser
        assert job is not None and spool is not None
        try:
            if parser is not None:
                parser.close()
            if spool.size == 0:
                raise empty_file()  # nothing to send to Gemini: refuse it like any other bad body
        except ApiError as error:
            await self._refuse(error)
            self.send_api_error(error)
            return
        try:
            result = await spool.finish()
        except OSError as exc:
            failure = insufficient_storage(f"Writing the spool file failed: {exc.strerror}")
            await self._refuse(failure)
            self.send_api_error(failure)
            return
        self.access.file_bytes = result.size
        self.spool = None  # finished: nothing to clean up any more
        try:
            job = await self.fd.store.transition(
                job.job_id, Event.SPOOL_COMPLETE, expect=State.SPOOLING, known=self.job, bytes_received=result.size,
                bytes_total=result.size, sha256=result.sha256, spool_path=str(result.path),
                last_byte_at=self.access.last_byte_at, file_name=parser.file_name if parser else None,
                mime_type=parser.media_type if parser else None)
        except (StaleJob, IllegalTransition, JobNotFound):
            # Cancelled while streaming: the bytes are not wanted any more.
            await self.fd.call(remove_spool, result.path)
            self.send_api_error(ApiError(409, "job_cancelled", "The upload was cancelled while it streamed."))
            return
        try:
            await self.fd.dispatch(self.fd.dispatcher.job_spooled, job.job_id, job.msg_gen)
        except Exception:  # the job is safe on disk and in the store; the sweeper will send it again
            log.exception("dispatch_failed", extra={"fields": {"jobId": job.job_id}})
        self.set_header("Location", f"/api/upload/status?jobId={job.job_id}")
        self.access.outcome = "accepted"
        self.write_json(202, job.receipt())

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

    # --- failure paths --------------------------------------------------------------------------------------
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

    def on_connection_close(self) -> None:
        super().on_connection_close()  # ends Tornado's wait for the body, so the request's task does not linger
        if self.life not in TAKES_BODY:
            return  # the whole body is here: finish the job; the client just will not see the answer
        self.access.closed = True
        self._move(Move.ABORT)
        IOLoop.current().add_callback(self._abort, "client_aborted",
                                      "The client closed the connection before the upload finished.")

    def _drain_exceeded(self) -> None:
        """A refused body goes on past what we drain: answer now (the connection then closes) rather than cut
        it silently; a direct client reads the answer, a proxy may not (field notes)."""
        self.access.cut = "drain_limit"
        self._stop_ticker()
        known = self._end_drain()
        if known is not None:
            IOLoop.current().add_callback(self._answer_known, known)

    def _cut(self, code: str, message: str) -> None:
        """Close the connection ourselves (an idle client) and clean up as for an abort."""
        if self.life not in TAKES_BODY:
            return
        self._move(Move.ABORT)
        self.access.cut = code
        self.connection.close()  # no on_connection_close follows: Tornado clears its callbacks
        super().on_connection_close()  # ...so end Tornado's wait for the body here
        IOLoop.current().add_callback(self._abort, "client_aborted", message)

    async def _abort(self, code: str, message: str) -> None:
        """After the ABORT move: drop the spool, fail the job (its attempt is free again), log the 499."""
        self._stop_ticker()
        job, spool = self.job, self.spool
        self.job, self.spool = None, None
        try:
            if spool is not None:
                await spool.abort()
            if job is not None:
                await self._fail_job(job.job_id, code, message)
        finally:
            self.access.aborted = True
            self.fd.inflight.discard(self)
            self._release_slots()
            self.access.write(499)

    def _too_slow(self) -> None:
        """The body arrives below the minimum rate: answer 408 client_too_slow now, close, clean up as an abort."""
        if self.life not in TAKES_BODY:
            return
        self._stop_ticker()
        self.access.cut = "too_slow"
        IOLoop.current().add_callback(self._answer_too_slow)

    async def _answer_too_slow(self) -> None:
        s = self.fd.settings
        error = client_too_slow(s.min_upload_rate_bytes, s.min_upload_rate_window_s)
        if self.life not in TAKES_BODY:
            return  # the body completed (or the client left) meanwhile: that ending stands
        await self._refuse(error)  # drops the spool and fails the job (its attempt is free again), if any
        if self.life is Life.REFUSED:
            # Answering before the body is complete makes Tornado close the connection once the answer is out.
            self._end_drain()

    # --- periodic: idle cut-off and progress ------------------------------------------------------------------
    def _tick(self) -> None:
        idle = time.monotonic() - self.last_byte_mono
        if idle > self.fd.settings.ingest_idle_timeout_s:
            self._cut("idle", f"No data arrived for {idle:.0f} s; the upload was cut off.")
            return
        if self.rate.too_slow():
            self._too_slow()
            return
        now = time.monotonic()
        self._renew_slots(now)
        if self.life is Life.STREAMING and not self.progress_busy and now - self.progress_at >= PROGRESS_EVERY_S:
            self.progress_at = now
            self.progress_busy = True
            IOLoop.current().add_callback(self._write_progress)

    async def _write_progress(self) -> None:
        job, spool = self.job, self.spool
        try:
            if self.life is not Life.STREAMING or job is None or spool is None:
                return
            # The record it returns is the one the next write starts from (``known``: one round trip).
            record = await self.fd.store.update(job.job_id, expect=State.SPOOLING, known=job,
                                                bytes_received=spool.size, last_byte_at=self.access.last_byte_at)
            if self.life in (Life.STREAMING, Life.COMPLETING):
                self.job = record
        except (StaleJob, JobNotFound):
            if self.life is Life.STREAMING and self.spool is spool:
                # Cancelled (on any front door): drop the spool and drain; the job is final already.
                await self._refuse(ApiError(409, "job_cancelled", "The upload was cancelled while it streamed."))
        except Exception:
            log.exception("progress_write_failed", extra={"fields": {"requestId": self.request_id}})
        finally:
            self.progress_busy = False

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

    def on_finish(self) -> None:
        self._stop_ticker()
        if self.life not in TERMINAL:
            self._move(Move.FINISHED)
        spool, self.spool = self.spool, None
        if spool is not None:  # answered without finishing the spool (an error path): never leave a .part open
            IOLoop.current().add_callback(spool.abort)
        self.fd.inflight.discard(self)
        self._release_slots()
        self.access.write(self.get_status())

    def send_api_error(self, error: ApiError) -> None:
        if self.access.outcome is None:
            self.access.outcome = "refused"
            self.access.error = error.code
        super().send_api_error(error)

    def access_fields(self) -> dict[str, Any]:
        job_id = self.job.job_id if self.job is not None else (self.known.job.job_id if self.known else None)
        return {"attemptId": self.attempt_id, "jobId": job_id}
