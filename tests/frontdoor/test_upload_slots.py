"""The concurrent-upload cap: one contract, the Redis adapter (two front doors on one Redis) and its twin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from focalpoint_upload.frontdoor.upload_slots import (
    ANONYMOUS,
    LEASE_S,
    MemoryUploadSlots,
    RedisUploadSlots,
    SlotKey,
    UploadSlots,
    slot_keys,
)
from focalpoint_upload.jobs import StoreUnavailable
from tests.conftest import FakeClock
from tests.helpers.aio import run_coro

Factory = Callable[[], UploadSlots]
Scenario = Callable[[Factory], Awaitable[None]]


@pytest.fixture(params=["memory", "redis"])
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    """Runs a scenario given a factory of front doors' slots (each call: another front door on the same store)."""
    def go(scenario: Scenario) -> None:
        async def main() -> None:
            if request.param == "memory":
                shared = MemoryUploadSlots()
                await scenario(lambda: shared)
                return
            client: Any = redis.asyncio.Redis.from_url(request.getfixturevalue("redis_url"))
            namespace = request.getfixturevalue("namespace")
            try:
                await scenario(lambda: RedisUploadSlots(client, namespace))
            finally:
                await client.aclose()

        run_coro(main())

    return go


IP = SlotKey("ip", "203.0.113.7", 2)
USER = SlotKey("principal", "alice", 3)


def test_the_cap_holds_across_front_doors_and_a_release_frees_a_slot(run: Callable[[Scenario], None],
                                                                      clock: FakeClock) -> None:
    async def scenario(make_slots: Factory) -> None:
        door_a, door_b = make_slots(), make_slots()
        assert await door_a.acquire([IP], "t1", clock()) is None
        assert await door_b.acquire([IP], "t2", clock()) is None
        assert await door_b.acquire([IP], "t3", clock()) == IP
        assert await door_a.acquire([IP], "t1", clock()) is None  # the same token again is a renewal
        await door_a.release([IP], "t1")
        assert await door_b.acquire([IP], "t3", clock()) is None

    run(scenario)


def test_over_any_key_takes_nothing(run: Callable[[Scenario], None], clock: FakeClock) -> None:
    async def scenario(make_slots: Factory) -> None:
        slots = make_slots()
        full_ip = SlotKey("ip", "198.51.100.1", 1)
        assert await slots.acquire([full_ip], "a", clock()) is None
        assert await slots.acquire([USER, full_ip], "b", clock()) == full_ip
        # "b" took no slot on USER: three others still fit there.
        for token in ("c", "d", "e"):
            assert await slots.acquire([USER], token, clock()) is None
        assert await slots.acquire([USER], "f", clock()) == USER

    run(scenario)


def test_a_lease_not_renewed_expires(run: Callable[[Scenario], None], clock: FakeClock) -> None:
    async def scenario(make_slots: Factory) -> None:
        slots = make_slots()
        assert await slots.acquire([IP], "kept", clock()) is None
        assert await slots.acquire([IP], "dead", clock()) is None  # its front door dies: never renewed/released
        clock.advance(LEASE_S - 1)
        await slots.renew([IP], "kept", clock())
        clock.advance(2)
        assert await slots.acquire([IP], "new", clock()) is None  # "dead" expired, "kept" did not
        assert await slots.acquire([IP], "newer", clock()) == IP

    run(scenario)


def test_keys_skip_the_anonymous_principal_and_caps_of_zero() -> None:
    assert slot_keys(ANONYMOUS, "127.0.0.1", 4, 8) == [SlotKey("ip", "127.0.0.1", 8)]
    assert slot_keys("alice", "2001:db8::1", 4, 8) == [SlotKey("principal", "alice", 4),
                                                       SlotKey("ip", "2001:db8::/64", 8)]
    assert slot_keys("alice", "127.0.0.1", 0, 0) == []


def test_an_unreachable_redis_is_store_unavailable(clock: FakeClock) -> None:
    async def scenario() -> None:
        dead = redis.asyncio.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
        slots = RedisUploadSlots(dead, "fptest-dead")
        with pytest.raises(StoreUnavailable):
            await slots.acquire([IP], "t", clock())
        with pytest.raises(StoreUnavailable):
            await slots.release([IP], "t")
        await dead.aclose()

    run_coro(scenario())
