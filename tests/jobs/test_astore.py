"""The job store's async face: the same records as the sync face (one layout, one compare-and-set), a stale
``known`` copy is safe, the WATCH fallback (a hook that queues a script; a record without a usable version),
and the in-memory twin against the Redis adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focalpoint_upload.jobs import Event, IllegalTransition, Job, RedisJobStore, StaleJob, State, new_job_id
from focalpoint_upload.jobs.astore import AsyncMemoryJobStore, AsyncRedisJobStore
from focalpoint_upload.jobs.layout import Layout
from focalpoint_upload.jobs.storage import RedisStorageBudget
from tests.conftest import FakeClock
from tests.helpers.aio import run_coro

AsyncScenario = Callable[[AsyncRedisJobStore], Awaitable[None]]


def new_job(clock: FakeClock, attempt: str = "attempt-0001") -> Job:
    return Job(job_id=new_job_id(), attempt_id=attempt, state=State.SPOOLING, created_at=clock(),
               updated_at=clock())


def run_async(redis_url: str, layout: Layout, clock: FakeClock, scenario: AsyncScenario) -> None:
    async def main() -> None:
        client: Any = redis.asyncio.Redis.from_url(redis_url)
        try:
            await scenario(AsyncRedisJobStore(client, layout, clock))
        finally:
            await client.aclose()

    run_coro(main())


def test_both_faces_write_the_same_record(redis_client: redis.Redis, redis_url: str, namespace: str,
                                          clock: FakeClock) -> None:
    sync = RedisJobStore(redis_client, namespace, clock, final_ttl_s=3600)
    a, b = new_job(clock, "attempt-sync"), new_job(clock, "attempt-async")
    sync.claim(a)
    sync.update(a.job_id, expect=State.SPOOLING, bytes_received=10)
    sync.transition(a.job_id, Event.SPOOL_COMPLETE, expect=State.SPOOLING, sha256="ab")

    async def scenario(store: AsyncRedisJobStore) -> None:
        assert await store.claim(b) is None
        await store.update(b.job_id, expect=State.SPOOLING, bytes_received=10)
        await store.transition(b.job_id, Event.SPOOL_COMPLETE, expect=State.SPOOLING, sha256="ab")
        assert (await store.find_by_attempt("attempt-sync")) == sync.get(a.job_id)

    run_async(redis_url, sync.layout, clock, scenario)
    got_a, got_b = sync.get(a.job_id), sync.get(b.job_id)
    assert got_a is not None and got_b is not None
    assert got_a.with_(job_id="x", attempt_id="y") == got_b.with_(job_id="x", attempt_id="y")
    assert got_b.version == 2 and redis_client.zscore(f"{namespace}:open", b.job_id) is not None


def test_a_stale_known_copy_is_computed_again_from_the_current_record(redis_client: redis.Redis, redis_url: str,
                                                                      namespace: str, clock: FakeClock) -> None:
    sync = RedisJobStore(redis_client, namespace, clock, final_ttl_s=3600)
    job = new_job(clock)
    sync.claim(job)
    sync.update(job.job_id, expect=State.SPOOLING, bytes_received=5)  # the copy below is now one version old

    async def scenario(store: AsyncRedisJobStore) -> None:
        moved = await store.modify(job.job_id, lambda j: j.with_(bytes_received=j.bytes_received + 1), known=job)
        assert moved.bytes_received == 6 and moved.version == 2
        sync.transition(job.job_id, Event.CANCEL)
        try:
            await store.update(job.job_id, expect=State.SPOOLING, known=moved, bytes_received=7)
            raise AssertionError("a cancelled job took an offset")
        except StaleJob:
            pass

    run_async(redis_url, sync.layout, clock, scenario)
    final = sync.get(job.job_id)
    assert final is not None and final.state == State.CANCELLED and final.bytes_received == 6


def test_a_hook_that_queues_a_script_falls_back_to_watch(redis_client: redis.Redis, redis_url: str,
                                                         namespace: str, clock: FakeClock) -> None:
    budget = RedisStorageBudget(redis_client, namespace, budget=1000)
    sync = RedisJobStore(redis_client, namespace, clock, final_ttl_s=3600, on_transition=budget.on_transition)
    job = new_job(clock)
    sync.claim(job)
    assert budget.reserve(job.job_id, 400) and budget.used() == 400

    async def scenario(store: AsyncRedisJobStore) -> None:
        failed = await store.transition(job.job_id, Event.FAIL, known=job, error_code="client_aborted")
        assert failed.state == State.FAILED

    run_async(redis_url, sync.layout, clock, scenario)
    assert budget.used() == 0 and budget.held() == {}  # the release script ran in the same MULTI


def test_a_record_without_a_version_is_written_through_watch(redis_client: redis.Redis, namespace: str,
                                                             clock: FakeClock) -> None:
    sync = RedisJobStore(redis_client, namespace, clock, final_ttl_s=3600)
    job = new_job(clock)
    sync.claim(job)
    redis_client.hdel(f"{namespace}:job:{job.job_id}", "version")  # as written before versions existed
    moved = sync.update(job.job_id, expect=State.SPOOLING, bytes_received=3)
    assert moved.bytes_received == 3 and moved.version == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(list(Event)), max_size=8))
def test_the_memory_twin_agrees_with_redis(redis_url: str, namespace: str, events: list[Event]) -> None:
    clock = FakeClock()
    job = new_job(clock, f"attempt-{new_job_id()}")
    twin = AsyncMemoryJobStore(clock)

    async def outcome(store: Any) -> list[str]:
        seen = []
        await store.claim(job)
        for event in events:
            try:
                moved = await store.transition(job.job_id, event)
                seen.append(f"{moved.state}:{moved.version}")
            except IllegalTransition:
                seen.append("illegal")
        return seen

    expected = run_coro(outcome(twin))

    async def scenario(store: AsyncRedisJobStore) -> None:
        assert await outcome(store) == expected

    run_async(redis_url, Layout(namespace, 3600), clock, scenario)
