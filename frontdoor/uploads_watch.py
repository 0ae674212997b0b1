"""How a resumable request ends early, and the ticker that watches it (:mod:`frontdoor.uploads`).

A request that goes away, stalls past FOCALPOINT_INGEST_IDLE_TIMEOUT, or is taken over by a newer request for the
same upload (its lease is lost) still writes out and records every byte it received: the client HEADs and
resumes from there. A body slower than FOCALPOINT_MIN_UPLOAD_RATE is answered 408 ``client_too_slow`` and closed,
with the same keeping of what came. Each request writes one structured access line.
"""

from __future__ import annotations

import logging
import time

from tornado.ioloop import IOLoop

from focalpoint_upload.frontdoor.errors import client_too_slow
from focalpoint_upload.frontdoor.uploads_body import ResumableBody

access_log = logging.getLogger("focalpoint.access")


class WatchedResumable(ResumableBody):
    """Cut, idle, too slow and takeover; the access line; letting go of the append, slots and in-flight entry."""

    cut: str | None
    offset: int | None
    keeping: bool

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
