"""The Gemini storage budget contract: atomic, counted once, released once, following the job store.

Every test runs on the Redis adapter and on its in-memory twin (``jobs.memory_storage``)."""

from __future__ import annotations

import threading

from focalpoint_upload.jobs import Event, Job, JobStore, State, new_job_id
from focalpoint_upload.jobs.storage import GEMINI_FILE_LIFE_S, _parse_time
from tests.conftest import Backend, FakeClock


def test_a_job_is_counted_once_and_released_once(backend: Backend) -> None:
    budget = backend.budget(100)
    assert budget.reserve("a", 60)
    assert budget.reserve("a", 60)  # a second delivery of the same message
    assert budget.used() == 60 and budget.held() == {"a": 60}
    assert not budget.reserve("b", 41)  # 60 + 41 > 100
    assert budget.reserve("b", 40)
    assert budget.used() == 100
    budget.release("a")
    budget.release("a")  # again: nothing more is released
    assert budget.used() == 40 and budget.held() == {"b": 40}
    assert budget.reserve("c", 60)


def test_a_file_larger_than_the_budget_goes_alone(backend: Backend) -> None:
    budget = backend.budget(10)
    assert budget.reserve("big", 50)  # nothing else held: it would otherwise wait forever
    assert not budget.reserve("small", 1)
    budget.release("big")
    assert budget.reserve("small", 1) and budget.used() == 1


def test_racing_reservations_never_cross_the_budget(backend: Backend) -> None:
    budget = backend.budget(1000)
    won: list[str] = []
    barrier = threading.Barrier(20)

    def go(i: int) -> None:
        barrier.wait()
        for _ in range(3):  # at-least-once: each job tries more than once
            if budget.reserve(f"job{i}", 100):
                won.append(f"job{i}")

    threads = [threading.Thread(target=go, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(won)) == 10 and budget.used() == 1000
    assert sum(budget.held().values()) == budget.used()


def make_job(store: JobStore, clock: FakeClock, size: int) -> Job:
    job = Job(job_id=new_job_id(), attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
              updated_at=clock(), bytes_total=size)
    store.claim(job)
    return store.transition(job.job_id, Event.SPOOL_COMPLETE)


def test_the_store_releases_failed_and_cancelled_jobs_and_enters_active_ones_for_expiry(
        backend: Backend, clock: FakeClock) -> None:
    budget = backend.budget(1000, file_ttl_s=3600)
    store = backend.store(on_transition=budget.on_transition)
    failed, cancelled, active = (make_job(store, clock, 100) for _ in range(3))
    for job in (failed, cancelled, active):
        assert budget.reserve(job.job_id, 100)
    store.transition(failed.job_id, Event.FAIL)
    store.transition(cancelled.job_id, Event.CANCEL)
    assert budget.held() == {active.job_id: 100}
    for event in (Event.UPLOAD_STARTED, Event.UPLOAD_FINISHED):
        store.transition(active.job_id, event)
    gemini_end = "2030-01-01T00:00:00.5Z"
    store.transition(active.job_id, Event.FILE_ACTIVE, gemini_expires_at=gemini_end)
    assert budget.expires_at(active.job_id) == clock() + 3600  # GEMINI_FILE_TTL is earlier than Gemini's end
    assert budget.expiring(clock() + 3599) == [] and budget.expiring(clock() + 3600) == [active.job_id]
    store.transition(active.job_id, Event.EXPIRE)
    assert budget.held() == {active.job_id: 100}  # EXPIRED releases only once its file is deleted
    budget.release(active.job_id)
    assert budget.held() == {} and budget.expiring(clock() + 10**9) == []


def test_without_a_ttl_the_file_ends_when_gemini_says(backend: Backend, clock: FakeClock) -> None:
    budget = backend.budget(1000)
    job = Job(job_id="j", attempt_id="a", state=State.ACTIVE, created_at=0, updated_at=0,
              gemini_expires_at="2027-01-15T08:00:00.123456789Z")
    assert budget.file_end(job, clock()) == _parse_time("2027-01-15T08:00:00.123456789Z")
    assert budget.file_end(job.with_(gemini_expires_at=None), clock()) == clock() + GEMINI_FILE_LIFE_S
