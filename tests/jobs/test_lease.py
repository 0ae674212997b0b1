"""Per-job leases on a real Redis: exclusive, renewed while held, free again after release or expiry."""

from __future__ import annotations

import time

import redis

from jobs.lease import Leases


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


def test_a_held_lease_outlives_its_ttl_because_it_is_renewed(redis_client: redis.Redis, namespace: str) -> None:
    leases = Leases(redis_client, namespace, ttl_s=0.3)
    with leases.hold("job1") as handle:
        assert handle is not None
        time.sleep(1.0)  # real time must pass here: the renewing thread is what is tested
        assert leases.held("job1") and not handle.lost.is_set()


def test_a_dead_holders_lease_expires_and_the_loser_learns_it(redis_client: redis.Redis, namespace: str) -> None:
    leases = Leases(redis_client, namespace, ttl_s=0.3)
    token = leases.acquire("job1")  # acquired but never renewed: a holder that died
    assert token is not None
    redis_client.pexpire(f"{namespace}:lease:job1", 1)
    time.sleep(0.05)
    assert not leases.held("job1")
    assert not leases.renew("job1", token)
    with leases.hold("job1") as handle:
        assert handle is not None
