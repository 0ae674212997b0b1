"""The global upload cap: at most `limit` holders (on Redis and on the in-memory twin), a dead holder's slot
lapses, a live one's is renewed by its keeper."""

from __future__ import annotations

import threading

import redis

from focalpoint_upload.actors.slots import MemorySlots, RedisSlots
from tests.conftest import Backend
from tests.helpers.wait import wait_for


def make_slots(backend: Backend, limit: int) -> RedisSlots | MemorySlots:
    if backend.client is None:
        return MemorySlots(limit)
    return RedisSlots(backend.client, backend.namespace, limit=limit, ttl_s=30)


def test_at_most_limit_slots_are_held_and_they_come_back(backend: Backend) -> None:
    slots = make_slots(backend, 2)
    with slots.hold() as a, slots.hold() as b, slots.hold() as c:
        assert (a, b, c) == (True, True, False)
        assert slots.in_use() == 2
    assert slots.in_use() == 0
    with slots.hold() as again:
        assert again


def test_concurrent_takers_never_exceed_the_limit(backend: Backend) -> None:
    slots = make_slots(backend, 3)
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


def test_a_live_holders_slot_is_renewed_by_its_keeper(redis_client: redis.Redis, namespace: str) -> None:
    tick = threading.Semaphore(0)

    def wait(done: threading.Event, seconds: float) -> bool:
        """The keeper's pause: one release of ``tick`` is a third of the ttl passing."""
        while not done.is_set():
            if tick.acquire(timeout=0.01):
                return False
        return True

    clock = [1000.0]
    slots = RedisSlots(redis_client, namespace, limit=1, ttl_s=30, clock=lambda: clock[0], wait=wait)
    key = f"{namespace}:gemini-upload-slots"
    with slots.hold() as taken:
        assert taken
        clock[0] = 1020.0
        tick.release()
        wait_for(lambda: redis_client.zrange(key, 0, -1, withscores=True)[0][1] == 1050.0, what="the renewal")
        clock[0] = 1040.0  # past the first expiry: still held, because it was renewed
        with slots.hold() as other:
            assert not other
    assert slots.in_use() == 0
