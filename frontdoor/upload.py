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
from typing import Any

import tornado.web
from tornado.ioloop import IOLoop, PeriodicCallback

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
)
from focalpoint_upload.frontdoor.errors import (
    ApiError,
    empty_file,
    insufficient_storage,
    method_not_allowed,
    unavailable,
)
from focalpoint_upload.frontdoor.space import next_reserved_until
from focalpoint_upload.frontdoor.spool import SpoolWriter, remove_spool
from focalpoint_upload.frontdoor.transfer_rate import RateWindow
from focalpoint_upload.frontdoor.upload_life import DRAINING, TAKES_BODY, TERMINAL, Life, Move
from focalpoint_upload.frontdoor.upload_slots import give_back
from focalpoint_upload.frontdoor.upload_watch import PROGRESS_EVERY_S, WatchedUpload
from focalpoint_upload.jobs import Event, IllegalTransition, JobNotFound, StaleJob, State, StoreUnavailable

log = logging.getLogger("focalpoint.frontdoor")
MiB = 1024 * 1024


def _expects_continue(headers: Any) -> bool:
    return str(headers.get("Expect", "")).strip().lower() == "100-continue"


@tornado.web.stream_request_body
class UploadHandler(WatchedUpload):
    """Admission in :meth:`prepare`, the answer in :meth:`post`; the body is :class:`SpoolingBody`'s, the
    early endings :class:`WatchedUpload`'s."""

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
