"""The concurrent-upload cap: one contract, the Redis adapter (two front doors on one Redis) and its twin."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

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

Factory = Callable[[], UploadSlots]


@pytest.fixture(params=["memory", "redis"])
def make_slots(request: pytest.FixtureRequest) -> Factory:
    if request.param == "memory":
        shared = MemoryUploadSlots()
        return lambda: shared
    client = request.getfixturevalue("redis_client")
    namespace = request.getfixturevalue("namespace")
    return lambda: RedisUploadSlots(client, namespace)  # each call: another front door on the same Redis


IP = SlotKey("ip", "203.0.113.7", 2)
USER = SlotKey("principal", "alice", 3)


def test_the_cap_holds_across_front_doors_and_a_release_frees_a_slot(make_slots: Factory, clock: FakeClock) -> None:
    door_a, door_b = make_slots(), make_slots()
    assert door_a.acquire([IP], "t1", clock()) is None
    assert door_b.acquire([IP], "t2", clock()) is None
    assert door_b.acquire([IP], "t3", clock()) == IP
    assert door_a.acquire([IP], "t1", clock()) is None  # the same token again is a renewal, not a new slot
    door_a.release([IP], "t1")
    assert door_b.acquire([IP], "t3", clock()) is None


def test_over_any_key_takes_nothing(make_slots: Factory, clock: FakeClock) -> None:
    slots = make_slots()
    full_ip = SlotKey("ip", "198.51.100.1", 1)
    assert slots.acquire([full_ip], "a", clock()) is None
    assert slots.acquire([USER, full_ip], "b", clock()) == full_ip
    # "b" took no slot on USER: three others still fit there.
    for token in ("c", "d", "e"):
        assert slots.acquire([USER], token, clock()) is None
    assert slots.acquire([USER], "f", clock()) == USER


def test_a_lease_not_renewed_expires(make_slots: Factory, clock: FakeClock) -> None:
    slots = make_slots()
    assert slots.acquire([IP], "kept", clock()) is None
    assert slots.acquire([IP], "dead", clock()) is None  # its front door dies: never renewed, never released
    clock.advance(LEASE_S - 1)
    slots.renew([IP], "kept", clock())
    clock.advance(2)
    assert slots.acquire([IP], "new", clock()) is None  # "dead" expired, "kept" did not
    assert slots.acquire([IP], "newer", clock()) == IP


def test_keys_skip_the_anonymous_principal_and_caps_of_zero() -> None:
    assert slot_keys(ANONYMOUS, "127.0.0.1", 4, 8) == [SlotKey("ip", "127.0.0.1", 8)]
    assert slot_keys("alice", "2001:db8::1", 4, 8) == [SlotKey("principal", "alice", 4),
                                                       SlotKey("ip", "2001:db8::/64", 8)]
    assert slot_keys("alice", "127.0.0.1", 0, 0) == []


def test_an_unreachable_redis_is_store_unavailable(clock: FakeClock) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    slots = RedisUploadSlots(dead, "fptest-dead")
    with pytest.raises(StoreUnavailable):
        slots.acquire([IP], "t", clock())
    with pytest.raises(StoreUnavailable):
        slots.release([IP], "t")
