"""Runs the sweeper periodically in a worker process: one sweep per interval across all workers."""

from __future__ import annotations

import logging

import redis

from focalpoint_upload.actors.loopthread import LoopThread
from focalpoint_upload.actors.sweeper import Sweeper
from focalpoint_upload.config import Settings

log = logging.getLogger("focalpoint.sweeper")


class SweepLoop(LoopThread):
    """A daemon thread: a first sweep at once (start-up recovery), then one every ``sweep_interval_s`` by
    whichever worker takes the interval's lock first (the sweep is safe to run concurrently; the lock only
    saves work)."""

    def __init__(self, sweeper: Sweeper, client: redis.Redis, settings: Settings, *, recovering: bool) -> None:
        super().__init__("sweeper")
        self.sweeper = sweeper
        self._client = client
        self._lock_key = f"{settings.redis_namespace}:sweep-lock"
        self._interval = settings.sweep_interval_s
        self._recovering = recovering

    def _run(self) -> None:
        self._once(recovering=self._recovering, locked=False)
        while not self._stop.wait(self._interval):
            self._once(recovering=False, locked=True)

    def _once(self, *, recovering: bool, locked: bool) -> None:
        try:
            if locked and not self._client.set(self._lock_key, "1", nx=True, px=int(self._interval * 900)):
                return  # another worker swept this interval
            report = self.sweeper.sweep(recovering=recovering)
            found = {k: v for k, v in report.as_dict().items() if k != "open_jobs" and v}
            # The start-up sweep and any sweep that did something are news; an idle periodic one is not.
            level = logging.INFO if found or not locked else logging.DEBUG
            log.log(level, "sweep", extra={"fields": {"recovering": recovering, **report.as_dict()}})
        except Exception:
            log.exception("sweep_failed")  # next interval tries again
