"""The job store contract: claims, compare-and-set transitions, concurrency, expiry of final jobs.

Every test that takes ``backend`` runs on the Redis adapter and on its in-memory twin (``jobs.memory``), so
the twin cannot drift; the few that look at Redis keys themselves run on Redis only."""

from __future__ import annotations

import threading

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focalpoint_upload.jobs import (
    Event,
    IllegalTransition,
    Job,
    JobNotFound,
    RedisJobStore,
    StaleJob,
    State,
    new_job_id,
)
from focalpoint_upload.jobs.errors import StoreUnavailable
from focalpoint_upload.jobs.memory import MemoryJobStore
from tests.conftest import Backend, FakeClock


def make_store(client: redis.Redis, namespace: str, clock: FakeClock) -> RedisJobStore:
    return RedisJobStore(client, namespace, clock, final_ttl_s=3600)


def new_job(clock: FakeClock, attempt: str = "attempt-0001") -> Job:
    return Job(job_id=new_job_id(), attempt_id=attempt, state=State.SPOOLING, created_at=clock(),
               updated_at=clock())


def test_job_ids_are_url_safe_and_long() -> None:
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 24 and all(c.isalnum() or c in "-_" for c in i) for i in ids)


def test_claim_binds_the_attempt_once(backend: Backend, clock: FakeClock) -> None:
    store = backend.store()
    first = new_job(clock)
    assert store.claim(first) is None
    second = new_job(clock)
    bound = store.claim(second)
    assert bound is not None and bound.job_id == first.job_id
    assert store.get(second.job_id) is None
    assert store.find_by_attempt("attempt-0001").job_id == first.job_id


def test_a_claim_takes_over_an_attempt_only_from_a_reusable_job(backend: Backend, clock: FakeClock) -> None:
    store = backend.store(final_ttl_s=60)
    first = new_job(clock)
    store.claim(first)
    store.transition(first.job_id, Event.FAIL, error_code="client_aborted")
    second = new_job(clock)
    assert store.claim(second, lambda j: False).job_id == first.job_id  # not reusable: the attempt stays bound
    assert store.claim(second, lambda j: j.ingest_failed) is None  # taken over in one compare-and-set
    assert store.find_by_attempt(first.attempt_id).job_id == second.job_id
    if backend.client is not None:
        assert backend.client.ttl(f"{backend.namespace}:attempt:{first.attempt_id}") == -1  # bound to a live job
    clock.advance(61)  # past the failed job's expiry: the binding of the live job stays
    assert store.find_by_attempt(first.attempt_id).job_id == second.job_id


def test_transition_applies_the_table_and_bumps_version(backend: Backend, clock: FakeClock) -> None:
    store = backend.store()
    job = new_job(clock)
    store.claim(job)
    clock.advance(5)
    done = store.transition(job.job_id, Event.SPOOL_COMPLETE, expect=State.SPOOLING, sha256="ab", bytes_received=3)
    assert done.state is State.SPOOLED and done.sha256 == "ab" and done.version == 1
    assert done.updated_at == job.updated_at + 5
    assert store.get(job.job_id) == done
    with pytest.raises(IllegalTransition):
        store.transition(job.job_id, Event.SPOOL_COMPLETE)
    with pytest.raises(StaleJob):
        store.transition(job.job_id, Event.FAIL, expect=State.SPOOLING)
    with pytest.raises(JobNotFound):
        store.transition("nope", Event.FAIL)


def test_final_jobs_leave_the_open_set_and_expire(backend: Backend, clock: FakeClock) -> None:
    store = backend.store()
    job = new_job(clock)
    store.claim(job)
    assert store.open_jobs() == [job.job_id]
    store.transition(job.job_id, Event.CANCEL)
    assert store.open_jobs() == []
    assert store.get(job.job_id).state is State.CANCELLED  # still readable until its ttl ends


def test_the_open_set_is_ordered_by_last_update(backend: Backend, clock: FakeClock) -> None:
    store = backend.store()
    jobs = []
    for i in range(3):
        jobs.append(new_job(clock, attempt=f"attempt-{i}"))
        store.claim(jobs[-1])
        clock.advance(1)
    a, b, c = jobs
    store.transition(a.job_id, Event.SPOOL_COMPLETE)  # a moves to the end
    assert store.open_jobs() == [b.job_id, c.job_id, a.job_id]
    assert store.open_jobs(older_than=c.updated_at) == [b.job_id, c.job_id]


def test_modify_refuses_a_state_move_and_fields_set_to_none_are_gone(backend: Backend, clock: FakeClock) -> None:
    store = backend.store()
    job = new_job(clock)
    store.claim(job)
    with pytest.raises(IllegalTransition):
        store.modify(job.job_id, lambda j: j.with_(state=State.SPOOLED))
    store.update(job.job_id, expect=State.SPOOLING, last_error="busy", bytes_total=5)
    cleared = store.modify(job.job_id, lambda j: j.with_(last_error=None))
    assert cleared.last_error is None and cleared.version == 2
    assert store.get(job.job_id) == cleared
    with pytest.raises(StaleJob):
        store.update(job.job_id, expect=State.SPOOLED, last_error="x")
    with pytest.raises(JobNotFound):
        store.modify("nope", lambda j: j)


def test_a_hook_sees_every_change_and_a_refused_change_runs_none(backend: Backend, clock: FakeClock) -> None:
    seen: list[tuple[State, State]] = []
    store = backend.store(on_transition=lambda pipe, old, new: seen.append((old.state, new.state)))
    job = new_job(clock)
    store.claim(job)
    store.transition(job.job_id, Event.SPOOL_COMPLETE)
    with pytest.raises(StaleJob):
        store.transition(job.job_id, Event.FAIL, expect=State.SPOOLING)
    assert seen == [(State.SPOOLING, State.SPOOLED)]


def test_final_records_expire_after_their_ttl_by_the_clock(clock: FakeClock) -> None:
    """The twin's own rule (Redis expires by its own clock; the Redis test below checks the ttl it sets)."""
    store = MemoryJobStore(clock, final_ttl_s=60)
    job = new_job(clock)
    store.claim(job)
    store.transition(job.job_id, Event.FAIL, error_code="client_aborted")
    clock.advance(59)
    assert store.get(job.job_id) is not None and store.find_by_attempt(job.attempt_id) is not None
    clock.advance(1)
    assert store.get(job.job_id) is None and store.find_by_attempt(job.attempt_id) is None


def test_final_jobs_expire_in_redis(redis_client: redis.Redis, namespace: str, clock: FakeClock) -> None:
    store = make_store(redis_client, namespace, clock)
    job = new_job(clock)
    store.claim(job)
    store.transition(job.job_id, Event.CANCEL)
    ttl = redis_client.ttl(f"{namespace}:job:{job.job_id}")
    assert 0 < ttl <= 3600
    assert 0 < redis_client.ttl(f"{namespace}:attempt:{job.attempt_id}") <= 3600


def test_racing_writers_move_a_job_exactly_once(backend: Backend, clock: FakeClock) -> None:
    """Two deliveries of one message (or a cancel racing a completion): one wins, the other is refused."""
    store = backend.store()
    job = new_job(clock)
    store.claim(job)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def racer(event: Event) -> None:
        barrier.wait()
        try:
            store.transition(job.job_id, event, expect=State.SPOOLING)
            outcomes.append(f"won:{event}")
        except (StaleJob, IllegalTransition):
            outcomes.append("lost")

    threads = [threading.Thread(target=racer, args=(e,))
               for e in [Event.SPOOL_COMPLETE] * 4 + [Event.CANCEL] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(o.startswith("won") for o in outcomes) == 1
    assert store.get(job.job_id).version == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(list(Event)), max_size=12))
def test_store_never_lets_a_job_reach_an_illegal_state(backend: Backend, events: list[Event]) -> None:
    from focalpoint_upload.jobs.machine import ORDER, advance

    clock = backend.clock
    store = backend.store()
    job = new_job(clock, attempt=new_job_id())
    store.claim(job)
    expected = State.SPOOLING
    for event in events:
        try:
            expected = advance(expected, event)
        except IllegalTransition:
            with pytest.raises(IllegalTransition):
                store.transition(job.job_id, event)
            continue
        before = store.get(job.job_id).state
        after = store.transition(job.job_id, event).state
        assert after is expected
        if event is Event.STREAM_STARTED:  # the one move that keeps the state (a flag while spooling)
            assert before is after is State.SPOOLING
        else:
            assert ORDER[after] > ORDER[before] or event in (Event.RETRY, Event.REUPLOAD)


def test_an_unreachable_redis_is_store_unavailable(clock: FakeClock) -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    store = make_store(client, "x", clock)
    with pytest.raises(StoreUnavailable):
        store.get("anything")


def test_a_retried_job_is_open_again_and_no_longer_expires(backend: Backend, clock: FakeClock) -> None:
    store = backend.store(final_ttl_s=60)
    job = new_job(clock)
    store.claim(job)
    store.transition(job.job_id, Event.SPOOL_COMPLETE)
    store.transition(job.job_id, Event.FAIL, error_code="gemini_unavailable")
    again = store.transition(job.job_id, Event.RETRY, expect=State.FAILED)
    assert again.state is State.SPOOLED
    if backend.client is not None:
        r, ns = backend.client, backend.namespace
        assert r.ttl(f"{ns}:job:{job.job_id}") == -1 and r.ttl(f"{ns}:attempt:{job.attempt_id}") == -1
    clock.advance(61)
    assert store.get(job.job_id).state is State.SPOOLED and store.find_by_attempt(job.attempt_id) is not None
    assert store.open_jobs() == [job.job_id]


def test_attempt_ids_are_scoped_per_owner(backend: Backend, clock: FakeClock) -> None:
    store = backend.store(final_ttl_s=60)
    anon, alice, bob = new_job(clock), new_job(clock).with_(owner="u:alice"), new_job(clock).with_(owner="u:bob")
    assert store.claim(anon) is None and store.claim(alice) is None and store.claim(bob) is None  # three jobs
    assert store.find_by_attempt("attempt-0001").job_id == anon.job_id  # the anonymous owner by default
    assert store.find_by_attempt("attempt-0001", "u:alice").job_id == alice.job_id
    assert store.find_by_attempt("attempt-0001", "u:bob").job_id == bob.job_id
    assert store.find_by_attempt("attempt-0001", "u:carol") is None
    assert store.get(alice.job_id, "u:bob") is None and store.get(alice.job_id, "u:alice") is not None
    assert store.get(alice.job_id).owner == "u:alice"  # no owner given: the actors see every job
    store.transition(alice.job_id, Event.FAIL, error_code="client_aborted")
    if backend.client is not None:
        r, ns = backend.client, backend.namespace
        # The anonymous owner keeps the key layout of the records written before jobs had owners.
        assert r.get(f"{ns}:attempt:attempt-0001") == anon.job_id.encode()
        assert 0 < r.ttl(f"{ns}:attempt:u:alice:attempt-0001") <= 60  # final: the owner's key expires
        assert r.ttl(f"{ns}:attempt:attempt-0001") == -1
    else:  # the twin expires by the clock
        clock.advance(61)
        assert store.find_by_attempt("attempt-0001", "u:alice") is None  # alice's binding ended with her job
        assert store.find_by_attempt("attempt-0001").job_id == anon.job_id
