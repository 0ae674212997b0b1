"""The async limiter, for the front door: :class:`AsyncRateLimiter` over ``limits.aio`` (``redis.asyncio``).

The same contract as :class:`ratelimit.limiter.RateLimiter` (see there), awaited: no thread hop. The policy
keys, the decision arithmetic and the degraded answers are the sync limiter's own functions; only the storage
calls differ. ``limits`` and redis errors become :class:`~ratelimit.StorageUnavailable` at the boundary
(:class:`AsyncWindowStore`), configuration problems :class:`~ratelimit.ConfigurationError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
import redis.asyncio
from limits import RateLimitItem
from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.errors import StorageError as LimitsStorageError
from limits.storage import storage_from_string
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from focalpoint_upload.ratelimit.errors import ConfigurationError, StorageUnavailable
from focalpoint_upload.ratelimit.limiter import Health, decision, parts_of
from focalpoint_upload.ratelimit.policy import Decision, Policy
from focalpoint_upload.ratelimit.storage import REDIS_SCHEMES
from focalpoint_upload.ratelimit.window import Window

T = TypeVar("T")


async def _run(work: Callable[[], Awaitable[T]] | None) -> T | None:
    return await work() if work is not None else None


class AsyncWindowStore:
    """Sliding-window counters in a ``limits.aio`` storage (``redis.asyncio``, or memory for unit tests), every key
    under ``{namespace}:ratelimit:`` -- the same keys as the sync :class:`ratelimit.storage.WindowStore`."""

    def __init__(self, uri: str, namespace: str, *, timeout: float = 0.5) -> None:
        if not namespace or any(c in namespace for c in "{} \t\r\n"):
            raise ConfigurationError(f"namespace {namespace!r} must be non-empty, without braces or spaces")
        scheme = urlsplit(uri).scheme.lower()
        options: dict[str, Any] = {}
        if scheme in REDIS_SCHEMES:
            options = {"implementation": "redispy", "key_prefix": f"{namespace}:ratelimit", "wrap_exceptions": True,
                       "socket_connect_timeout": timeout, "socket_timeout": timeout, "retry": Retry(NoBackoff(), 0)}
        elif scheme != "memory":
            raise ConfigurationError(f"unsupported limiter storage {uri!r} (redis, rediss, redis+unix or memory)")
        try:
            storage = storage_from_string("async+" + uri, **options)
        except (LimitsConfigurationError, ValueError) as exc:
            raise ConfigurationError(f"cannot use limiter storage {uri!r}: {exc}") from exc
        if not isinstance(storage, Storage) or not isinstance(storage, SlidingWindowCounterSupport):
            raise ConfigurationError(f"{uri!r} has no async sliding-window-counter support")
        self._storage = storage
        self._sliding: SlidingWindowCounterSupport = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    @asynccontextmanager
    async def _translate(self) -> AsyncIterator[None]:
        try:
            yield
        except LimitsStorageError as exc:
            raise StorageUnavailable(f"{type(exc.storage_error).__name__}: {exc.storage_error}") from exc
        except (redis.RedisError, OSError) as exc:
            raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def window(self, item: RateLimitItem, key: tuple[str, ...]) -> Window:
        expiry = int(item.get_expiry())
        async with self._translate():
            prev, prev_ttl, cur, cur_ttl = await self._sliding.get_sliding_window(item.key_for(*key), expiry)
        return Window(expiry, int(prev), float(prev_ttl), int(cur), float(cur_ttl))

    async def acquire(self, item: RateLimitItem, key: tuple[str, ...]) -> bool:
        async with self._translate():
            return await self._strategy.hit(item, *key)

    async def clear(self, item: RateLimitItem, key: tuple[str, ...]) -> None:
        async with self._translate():
            await self._strategy.clear(item, *key)

    async def close(self) -> None:
        """Release the Redis connections (nothing for memory)."""
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        if isinstance(client, redis.asyncio.Redis):
            await client.aclose()


class AsyncRateLimiter:
    """:class:`ratelimit.limiter.RateLimiter`, awaited. One per front door (one IOLoop)."""

    def __init__(self, storage_uri: str, namespace: str, clock: Callable[[], float] = time.time, *,
                 timeout: float = 0.5, cooldown: float = 1.0, degraded_retry_after: int = 5) -> None:
        self._health = Health(cooldown, degraded_retry_after)
        self._store = AsyncWindowStore(storage_uri, namespace, timeout=timeout)
        self._clock = clock

    async def hit(self, policy: Policy, *key: str) -> Decision:
        """Count one request (see ``RateLimiter.hit``): one round trip when denied, two when allowed."""
        return (await self.hit_then(policy, key, None))[0]

    async def hit_then(self, policy: Policy, key: tuple[str, ...],
                       work: Callable[[], Awaitable[T]] | None) -> tuple[Decision, T | None]:
        """:meth:`hit`, and ``work()`` for an allowed request, run *concurrently* with the counting step (its
        round trip overlaps the limiter's). A request the window already denies never starts ``work`` (a 429
        costs one round trip); a hit that loses a race with another hit denies, and ``work``'s result is
        dropped. An exception of ``work`` propagates (the hit stays counted)."""
        parts = parts_of(policy, key)
        now = self._clock()
        if (skipped := self._health.skip(policy, now)) is not None:
            return skipped, await work() if work is not None and skipped.allowed else None
        try:
            window = await self._store.window(policy.item, parts)
        except StorageUnavailable as exc:
            failed = self._health.failed(policy, now, exc)
            return failed, await work() if work is not None and failed.allowed else None
        if not window.allows(policy.limit):
            return decision(policy, window, now, allowed=False), None
        counted, result = await asyncio.gather(self._acquire(policy, parts), _run(work))
        if isinstance(counted, StorageUnavailable):
            failed = self._health.failed(policy, now, counted)
            return failed, result if failed.allowed else None
        if counted:
            return decision(policy, window.after_hit(), now, allowed=True), result
        try:  # lost a race to another hit: re-read
            window = await self._store.window(policy.item, parts)
        except StorageUnavailable as exc:
            return self._health.failed(policy, now, exc), None
        return decision(policy, window, now, allowed=False), None

    async def _acquire(self, policy: Policy, parts: tuple[str, ...]) -> bool | StorageUnavailable:
        try:
            return await self._store.acquire(policy.item, parts)
        except StorageUnavailable as exc:
            return exc

    async def peek(self, policy: Policy, *key: str) -> Decision:
        """What a :meth:`hit` would answer now, counting nothing."""
        parts = parts_of(policy, key)
        now = self._clock()
        if (skipped := self._health.skip(policy, now)) is not None:
            return skipped
        try:
            window = await self._store.window(policy.item, parts)
        except StorageUnavailable as exc:
            return self._health.failed(policy, now, exc)
        return decision(policy, window, now, allowed=window.allows(policy.limit))

    async def reset(self, policy: Policy, *key: str) -> None:
        await self._store.clear(policy.item, parts_of(policy, key))

    async def close(self) -> None:
        await self._store.close()
