"""Run the real service (Tornado over real sockets, real Redis) in a background thread for a test."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from focalpoint_upload.config import Settings, load_settings
from focalpoint_upload.service import Service


def service_settings(tmp_path: Path, redis_url: str | None, namespace: str, **overrides: Any) -> Settings:
    env = {"FOCALPOINT_DATA_DIR": str(tmp_path / "data"), "FOCALPOINT_PORT": "0",
           "FOCALPOINT_REDIS_NAMESPACE": namespace, "FOCALPOINT_MIN_FREE_SPACE": "1MiB",
           "GEMINI_API_KEY": "test-key",
           # Tests poll status in tight loops; the tests of the status limit set it back explicitly.
           "FOCALPOINT_LIMIT_STATUS_PER_IP": "100000/minute",
           # Tests leave half-sent uploads behind; their services need not wait long for them at stop.
           "FOCALPOINT_SHUTDOWN_GRACE": "1s"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return load_settings(env, **overrides)


class RunningService:
    """``Service`` on its own asyncio loop in a thread; ``stop()`` shuts it down."""

    def __init__(self, settings: Settings, *, with_workers: bool = False,
                 clock: Callable[[], float] = time.time, **service_args: Any) -> None:
        self.service = Service(settings, clock=clock, **service_args)
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.error: BaseException | None = None
        self.stopped = False

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self.service.start(with_workers=with_workers))
            except BaseException as exc:
                self.error = exc
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="service", daemon=True)
        self.thread.start()
        started.wait(30)
        if self.error is not None:
            raise self.error

    @property
    def port(self) -> int:
        return self.service.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def frontdoor(self) -> Any:
        return self.service.frontdoor

    @property
    def store(self) -> Any:
        """The job store's sync face on the same Redis (the front door's own is async, bound to its loop)."""
        return self.service.store

    def stop(self) -> None:
        """Graceful stop (see ``Service.stop``); a second call does nothing."""
        if self.stopped:
            return
        self.stopped = True
        fut = asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop)
        fut.result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
