"""Per-job leases on a real Redis: exclusive, renewed while held, free again after release or expiry."""

from __future__ import annotations

import queue
import threading
from typing import cast

import redis

from focalpoint_upload.jobs.lease import Leases
from tests.helpers.wait import wait_for


def test_a_lease_is_exclusive_and_released(redis_client: redis.Redis, namespace: str) -> None:
    leases = Leases(redis_client, namespace, ttl_s=5)
    with leases.hold("job1") as first:
        assert first is not None
        assert leases.held("job1")
        with leases.hold("job1") as second:
            assert second is None
        with leases.hold("job2") as other:
            assert other is not None
    assert not leases.held("job1")


class Ticks:
    """The keeper thread's wait: each :meth:`tick` is one third of the ttl passing."""

    def __init__(self) -> None:
        self._q: queue.Queue[None] = queue.Queue()

    def tick(self) -> None:
        self._q.put(None)

    def __call__(self, done: threading.Event, seconds: float) -> bool:
        while not done.is_set():
            try:
                self._q.get(timeout=0.01)
                return False  # "a third of the ttl has passed": renew
            except queue.Empty:
                continue
        return True


def test_a_held_lease_is_renewed_by_its_keeper(redis_client: redis.Redis, namespace: str) -> None:
    ticks = Ticks()
    leases = Leases(redis_client, namespace, ttl_s=30, wait=ticks)
    key = f"{namespace}:lease:job1"
    with leases.hold("job1") as handle:
        assert handle is not None
        redis_client.pexpire(key, 1000)  # as if most of the ttl had passed
        ticks.tick()
        wait_for(lambda: cast(int, redis_client.pttl(key)) > 20_000, what="the keeper renewing the lease")
        assert not handle.lost.is_set()
    assert not leases.held("job1")


def test_a_keeper_whose_lease_was_taken_reports_it_lost(redis_client: redis.Redis, namespace: str) -> None:
    ticks = Ticks()
    leases = Leases(redis_client, namespace, ttl_s=30, wait=ticks)
    with leases.hold("job1") as handle:
        assert handle is not None
        redis_client.set(f"{namespace}:lease:job1", "someone-else")  # it expired and another run took it
        ticks.tick()
        wait_for(handle.lost.is_set, what="the keeper noticing")
    assert redis_client.get(f"{namespace}:lease:job1") == b"someone-else"  # release leaves others' leases alone


def test_a_dead_holders_lease_expires_and_the_loser_learns_it(redis_client: redis.Redis, namespace: str) -> None:
    leases = Leases(redis_client, namespace, ttl_s=0.3)
    token = leases.acquire("job1")  # acquired but never renewed: a holder that died
    assert token is not None
    redis_client.pexpire(f"{namespace}:lease:job1", 1)
    wait_for(lambda: not leases.held("job1"), what="Redis expiring the lease")
    assert not leases.renew("job1", token)
    with leases.hold("job1") as handle:
        assert handle is not None
