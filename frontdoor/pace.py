"""A per-upload request rate: PATCH and HEAD on one resumable upload, counted across front doors.

PATCH and HEAD do not count against the per-IP ``uploads`` limit (creation does), but a client stuck in a
loop on one upload (a retry storm) must not hammer the store and the disk: more than
FOCALPOINT_UPLOAD_REQUESTS_PER_MINUTE requests for one upload within a clock minute answer 429. A fixed window
in Redis (INCR + EXPIRE, one round trip) is enough here: the limit is a storm guard, not a quota. If Redis
cannot be reached the request is let through: the upload's lease, on the same Redis, refuses it anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

import redis
import redis.asyncio

from focalpoint_upload.frontdoor.errors import ApiError

WINDOW_S = 60


class RequestCounter(Protocol):
    async def hit(self, job_id: str, window: int) -> int:
        """Count one request for ``job_id`` in clock window ``window``; the window's count so far."""


class RedisCounter:
    """On ``redis.asyncio``: INCR and EXPIRE pipelined, one round trip."""

    def __init__(self, client: redis.asyncio.Redis, namespace: str) -> None:
        self._r, self._prefix = client, f"{namespace}:upload:rate:"

    async def hit(self, job_id: str, window: int) -> int:
        key = f"{self._prefix}{job_id}:{window}"
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 2 * WINDOW_S)
                count, _ = await pipe.execute()
        except (redis.RedisError, OSError):
            return 0
        return cast(int, count)


class MemoryCounter:
    """The in-memory twin for unit tests."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    async def hit(self, job_id: str, window: int) -> int:
        self.counts[(job_id, window)] = self.counts.get((job_id, window), 0) + 1
        return self.counts[(job_id, window)]


class Pace:
    def __init__(self, counter: RequestCounter, per_minute: int, clock: Callable[[], float]) -> None:
        self.counter, self.per_minute, self.clock = counter, per_minute, clock

    async def check(self, job_id: str) -> ApiError | None:
        """None, or the 429 for one request too many on ``job_id`` (one Redis round trip)."""
        now = self.clock()
        window = int(now // WINDOW_S)
        if await self.counter.hit(job_id, window) <= self.per_minute:
            return None
        retry = max(1, int((window + 1) * WINDOW_S - now) + 1)
        return ApiError(429, "rate_limited", f"Too many requests for this upload; retry in {retry} s.",
                        headers={"Retry-After": str(retry)})
