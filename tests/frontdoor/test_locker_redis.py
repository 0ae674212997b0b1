"""The tus lease on Redis (``frontdoor.locker.UploadLeases``, one script call per take / keep / release) keeps
the contract of its in-memory twin: a newcomer asks, the holder sees the request at its next renewal, a release
frees the lease for the newcomer and clears the request, a lease taken by someone else is lost."""

from __future__ import annotations

from typing import Any

import redis.asyncio

from focalpoint_upload.frontdoor.locker import ASKED, KEPT, LOST, LeaseStore, MemoryLeases, UploadLeases
from tests.conftest import FakeClock
from tests.helpers.aio import run_coro


async def _scenario(leases: LeaseStore) -> None:
    first = await leases.take("u1")
    assert first is not None
    assert await leases.keep("u1", first) == KEPT
    assert await leases.take("u1") is None  # held: the newcomer is refused, and asks
    assert await leases.keep("u1", first) == ASKED  # the holder sees it at its next renewal
    await leases.release("u1", "not-the-token")  # someone else's release does nothing
    assert await leases.take("u1") is None
    await leases.release("u1", first)
    second = await leases.take("u1")
    assert second is not None and second != first
    assert await leases.keep("u1", second) == KEPT  # taking the lease cleared the request
    assert await leases.keep("u1", first) == LOST  # the old holder's token is worth nothing now
    await leases.release("u1", second)


def test_the_redis_leases_keep_the_twins_contract(redis_url: str, namespace: str) -> None:
    async def main() -> None:
        client: Any = redis.asyncio.Redis.from_url(redis_url)
        try:
            await _scenario(UploadLeases(client, namespace, ttl_s=6.0))
            assert await client.exists(f"{namespace}:upload:lease:u1") == 0
        finally:
            await client.aclose()

    run_coro(main())


def test_the_memory_leases_run_the_same_scenario() -> None:
    run_coro(_scenario(MemoryLeases(6.0, FakeClock())))
