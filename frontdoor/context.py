"""What the front door's handlers are given: settings, the job store, the dispatcher, the limiter, a clock.

Every blocking call (Redis) goes through :meth:`Frontdoor.call`, which runs it in the front door's thread pool
so the IOLoop never waits on the network.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

from focalpoint_upload.config import Settings
from focalpoint_upload.frontdoor.auth import Authenticator
from focalpoint_upload.frontdoor.upload_slots import MemoryUploadSlots, UploadSlots
from focalpoint_upload.jobs import JobStore
from focalpoint_upload.observability.metrics import Metrics

P = ParamSpec("P")
T = TypeVar("T")


class Dispatcher(Protocol):
    """Hands jobs to the actors. Blocking; idempotent (a job sent twice is handled once)."""

    def job_spooled(self, job_id: str, gen: int) -> None:
        """Send the job's upload message with the job's current message generation ``gen``."""

    def job_cancelled(self, job_id: str) -> None: ...


class Limits(Protocol):
    """The rate-limit rules as the handlers use them (see ``ratelimit.rules``)."""

    def check_status(self, ip: str, owner: str | None = None) -> Any: ...

    def check_ingest(self, attempt_id: str, owner: str | None = None) -> Any: ...

    def check_new_upload(self, ip: str, owner: str | None = None) -> Any: ...

    def client_ip(self, peer: str, headers: Any) -> str: ...


@dataclass
class Frontdoor:
    settings: Settings
    store: JobStore
    dispatcher: Dispatcher
    clock: Callable[[], float]
    limits: Limits | None = None
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=16, thread_name_prefix="frontdoor"))
    accepting: bool = True  # False once shutdown has begun: new uploads are refused with 503
    inflight: set[Any] = field(default_factory=set)  # upload handlers spooling right now
    metrics: Metrics | None = None
    # Concurrent-upload caps: the service passes the Redis adapter (shared by all front doors); the default
    # counts in this process only.
    slots: UploadSlots = field(default_factory=MemoryUploadSlots)
    monotonic: Callable[[], float] = time.monotonic  # the minimum-rate windows' clock (tests move it by hand)
    auth: Authenticator = field(init=False)  # from the settings: who a request's bearer token says it is

    def __post_init__(self) -> None:
        self.auth = Authenticator.from_settings(self.settings)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))
