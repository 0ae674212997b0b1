"""The per-job lease contract, on Redis (``jobs.lease.Leases``) and on its in-memory twin (``MemoryLeases``)."""

from __future__ import annotations

from focalpoint_upload.jobs.lease import MemoryLeases
from tests.conftest import Backend, FakeClock


def test_a_lease_is_exclusive_renewed_only_by_its_holder_and_released(backend: Backend) -> None:
    leases = backend.leases(ttl_s=5)
    token = leases.acquire("job1")
    assert token is not None and leases.held("job1")
    assert leases.acquire("job1") is None
    assert leases.renew("job1", token) and not leases.renew("job1", "not-mine")
    leases.release("job1", "not-mine")
    assert leases.held("job1")
    leases.release("job1", token)
    assert not leases.held("job1") and not leases.renew("job1", token)
    with leases.hold("job1") as first:
        assert first is not None and leases.held("job1")
        with leases.hold("job1") as second:
            assert second is None
    assert not leases.held("job1") and leases.ttl_s == 5


def test_a_dead_holders_lease_lapses_by_the_clock(clock: FakeClock) -> None:
    leases = MemoryLeases(ttl_s=30, clock=clock)
    token = leases.acquire("job1")
    assert token is not None
    clock.advance(29)
    assert leases.held("job1")
    clock.advance(1)
    assert not leases.held("job1") and not leases.renew("job1", token)


def test_a_held_lease_lives_while_its_block_runs_until_taken_over(clock: FakeClock) -> None:
    leases = MemoryLeases(ttl_s=30, clock=clock)
    with leases.hold("job1") as handle:
        assert handle is not None
        clock.advance(3600)  # the keeper would have renewed it all along
        assert leases.held("job1") and not handle.lost.is_set()
        leases.take_over("job1")
        assert handle.lost.is_set()
    assert leases.held("job1")  # the new holder's, which the old block's end leaves alone
