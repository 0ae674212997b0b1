"""What the two handlers that stream an upload body share: ``POST /api/upload`` (:mod:`frontdoor.upload`) and
the resumable ``POST``/``PATCH`` (:mod:`frontdoor.uploads`). Each runs a periodic ticker while the body arrives
and may hold concurrent-upload slots (:mod:`frontdoor.upload_slots`) that must be renewed while held and given
back exactly once."""

from __future__ import annotations

import time

from tornado.ioloop import IOLoop, PeriodicCallback

from focalpoint_upload.frontdoor.base import BaseHandler
from focalpoint_upload.frontdoor.context import Frontdoor
from focalpoint_upload.frontdoor.upload_slots import RENEW_EVERY_S, Held, give_back, keep


class StreamingHandler(BaseHandler):
    """A :class:`BaseHandler` with a body ticker and upload slots; subclasses start the ticker and take the slots."""

    def initialize(self, fd: Frontdoor) -> None:
        super().initialize(fd)
        self.ticker: PeriodicCallback | None = None
        self.slots: Held | None = None  # concurrent-upload slots, held while a body streams into the upload
        self.slots_renewed_at = time.monotonic()

    def _stop_ticker(self) -> None:
        if self.ticker is not None:
            self.ticker.stop()
            self.ticker = None

    def _renew_slots(self, now: float) -> None:
        """Called from the ticker: renew the held slots once every ``RENEW_EVERY_S`` (on the IOLoop, not here)."""
        if self.slots is not None and now - self.slots_renewed_at >= RENEW_EVERY_S:
            self.slots_renewed_at = now
            IOLoop.current().add_callback(keep, self.fd, self.slots)

    def _release_slots(self) -> None:
        """Give the slots back, once: the handle is cleared first, so a second call does nothing."""
        held, self.slots = self.slots, None
        if held is not None:
            IOLoop.current().add_callback(give_back, self.fd, held)
