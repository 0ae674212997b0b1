"""The global upload cap on a real Redis: at most `limit` holders, and a dead holder's slot lapses."""

from __future__ import annotations

import threading

import redis

from actors.slots import RedisSlots
from tests.helpers.wait import wait_for


def test_at_most_limit_slots_are_held_and_they_come_back(redis_client: redis.Redis, namespace: str) -> None:
    slots = RedisSlots(redis_client, namespace, limit=2, ttl_s=30)
    with slots.hold() as a, slots.hold() as b, slots.hold() as c:
        assert (a, b, c) == (True, True, False)
        assert slots.in_use() == 2
    assert slots.in_use() == 0
    with slots.hold() as again:
        assert again


def test_concurrent_takers_never_exceed_the_limit(redis_client: redis.Redis, namespace: str) -> None:
    slots = RedisSlots(redis_client, namespace, limit=3, ttl_s=30)
    got: list[bool] = []
    barrier = threading.Barrier(10)
    release = threading.Event()

    def take() -> None:
        barrier.wait()
        with slots.hold() as ok:
            got.append(ok)
            release.wait(5)

    threads = [threading.Thread(target=take) for _ in range(10)]
    for t in threads:
        t.start()
    wait_for(lambda: len(got) == 10, 5, "every thread asked for a slot")
    release.set()
    for t in threads:
        t.join()
    assert got.count(True) == 3


def test_a_dead_holders_slot_lapses_after_the_ttl_and_a_live_one_does_not(redis_client: redis.Redis,
                                                                          namespace: str) -> None:
    clock = [1000.0]
    slots = RedisSlots(redis_client, namespace, limit=1, ttl_s=5, clock=lambda: clock[0])
    # A holder that died: its member stays with its last expiry, nobody renews it.
    redis_client.zadd(f"{namespace}:gemini-upload-slots", {"dead-worker": 1005.0})
    with slots.hold() as taken:
        assert not taken
    clock[0] = 1005.1
    with slots.hold() as taken:
        assert taken
