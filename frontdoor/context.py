"""What the front door's handlers are given: settings, the job store, the dispatcher, the limiter, a clock.

Nothing blocks the IOLoop. Redis is awaited directly (the store, the limiter, the upload slots and leases are
``redis.asyncio`` / ``limits.aio`` adapters): no thread hop. Disk work (spool writes, hashing, fsync, statvfs,
removal) runs on :attr:`Frontdoor.executor`, the disk pool, through :meth:`Frontdoor.call`. The dispatcher
(Dramatiq's blocking broker client) runs on a small pool of its own (:meth:`Frontdoor.dispatch`), so a slow
Redis never holds up disk work and a slow disk never holds up a hand-off. ``/metrics`` and ``/readyz`` use
neither pool (the service gives them their own).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

from focalpoint_upload.config import Settings
from focalpoint_upload.frontdoor.auth import Authenticator
from focalpoint_upload.frontdoor.upload_slots import MemoryUploadSlots, UploadSlots
from focalpoint_upload.jobs.astore import AsyncJobStore
from focalpoint_upload.observability.metrics import Metrics

P = ParamSpec("P")
T = TypeVar("T")


class Dispatcher(Protocol):
    """Hands jobs to the actors. Blocking; idempotent (a job sent twice is handled once)."""

    def job_spooled(self, job_id: str, gen: int) -> None:
        """Send the job's upload message with the job's current message generation ``gen``."""

    def job_streaming(self, job_id: str, gen: int) -> None:
        """Start stream-through for a spooling resumable upload (``actors.stream``), message generation ``gen``."""

    def job_cancelled(self, job_id: str) -> None: ...


class Limits(Protocol):
    """The rate-limit rules as the handlers use them, awaited (see ``ratelimit.arules``)."""

    async def check_status(self, ip: str, owner: str | None = None) -> Any: ...

    async def check_status_then(self, ip: str, owner: str | None,
                                work: Callable[[], Awaitable[T]]) -> tuple[Any, T | None]: ...

    async def check_ingest(self, attempt_id: str, owner: str | None = None) -> Any: ...

    async def check_new_upload(self, ip: str, owner: str | None = None) -> Any: ...

    async def close(self) -> None: ...

    def client_ip(self, peer: str, headers: Any) -> str: ...


@dataclass
class Frontdoor:
    settings: Settings
    store: AsyncJobStore
    dispatcher: Dispatcher
    clock: Callable[[], float]
    limits: Limits | None = None
    # The disk pool: spool writes, hashing, fsync, statvfs, removal. Each streaming upload may use three threads
    # at once (a batch's hash and write, a background fdatasync): 16 keeps several concurrent uploads moving.
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=16, thread_name_prefix="frontdoor-disk"))
    # Dramatiq's broker client is blocking: hand-offs get threads of their own, never the disk pool's.
    dispatch_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="frontdoor-dispatch"))
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
        """Run blocking disk work ``fn`` on the disk pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def dispatch(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking dispatcher call ``fn`` on the dispatch pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.dispatch_executor, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        """Stop both pools (queued work is dropped)."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.dispatch_executor.shutdown(wait=False, cancel_futures=True)
