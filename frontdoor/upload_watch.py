"""How a ``POST /api/upload`` ends early: the client leaves, stalls past FOCALPOINT_INGEST_IDLE_TIMEOUT, or sends
slower than FOCALPOINT_MIN_UPLOAD_RATE; and the progress the ticker writes to the job while the body streams.

A client that goes away (or is cut off) before its last byte moves the request to ABORTED: the spool is dropped,
the job FAILED with ``client_aborted`` (its attempt is free again) and the access line says 499. A slow body is
answered 408 ``client_too_slow`` at once (the connection then closes) and leaves the same.
"""

from __future__ import annotations

import logging
import time

from tornado.ioloop import IOLoop

from focalpoint_upload.frontdoor.errors import ApiError, client_too_slow
from focalpoint_upload.frontdoor.upload_body import SpoolingBody
from focalpoint_upload.frontdoor.upload_life import TAKES_BODY, Life, Move
from focalpoint_upload.jobs import JobNotFound, StaleJob, State

log = logging.getLogger("focalpoint.frontdoor")
PROGRESS_EVERY_S = 1.0


class WatchedUpload(SpoolingBody):
    """The ticker's work (idle cut-off, minimum rate, progress, slot renewal) and the client's going away."""

    def on_connection_close(self) -> None:
        super().on_connection_close()  # ends Tornado's wait for the body, so the request's task does not linger
        if self.life not in TAKES_BODY:
            return  # the whole body is here: finish the job; the client just will not see the answer
        self.access.closed = True
        self._move(Move.ABORT)
        IOLoop.current().add_callback(self._abort, "client_aborted",
                                      "The client closed the connection before the upload finished.")

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
