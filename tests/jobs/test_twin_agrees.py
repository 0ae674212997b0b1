"""Differential test: random sequences of job-store calls give the same answers on Redis and on the twin.

The contract tests check chosen cases on each backend; this one drives both with the same generated calls
(transitions with and without ``expect``, updates, field clears, refused modifies) and compares every result,
every exception and the records and open sets left behind.
"""

from __future__ import annotations

from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focalpoint_upload.jobs import Event, Job, JobError, State, new_job_id
from focalpoint_upload.jobs.memory import MemoryJobStore
from focalpoint_upload.jobs.store import RedisJobStore
from tests.conftest import FakeClock

calls = st.lists(st.one_of(
    st.tuples(st.just("transition"), st.sampled_from(list(Event)), st.none() | st.sampled_from(list(State))),
    st.tuples(st.just("update"), st.sampled_from(list(State)), st.none() | st.text(max_size=5)),
    st.tuples(st.just("modify"), st.booleans(), st.integers(0, 3)),
), max_size=15)


def apply(store: Any, job_id: str, call: tuple[Any, ...]) -> Any:
    kind, a, b = call
    try:
        if kind == "transition":
            return store.transition(job_id, a, expect=b, last_error=None)
        if kind == "update":
            return store.update(job_id, expect=a, last_error=b)
        return store.modify(job_id, lambda j: j.with_(attempts=b, state=State.FAILED if a else j.state))
    except JobError as exc:
        return type(exc).__name__


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls)
def test_the_twin_answers_as_redis_does(redis_client: redis.Redis, namespace: str,
                                        sequence: list[tuple[Any, ...]]) -> None:
    clock = FakeClock()
    real = RedisJobStore(redis_client, namespace, clock, final_ttl_s=3600)
    twin = MemoryJobStore(clock, final_ttl_s=3600)
    job = Job(job_id=new_job_id(), attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
              updated_at=clock())
    assert real.claim(job) == twin.claim(job)
    for call in sequence:
        clock.advance(1)
        assert apply(real, job.job_id, call) == apply(twin, job.job_id, call), call
        assert real.get(job.job_id) == twin.get(job.job_id)
    assert [i for i in real.open_jobs() if i == job.job_id] == twin.open_jobs()
    assert real.find_by_attempt(job.attempt_id) == twin.find_by_attempt(job.attempt_id)
