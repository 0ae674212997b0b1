"""FileLife on a real Redis with a clock moved by hand and an in-memory Files twin that can fail its deletes."""

from __future__ import annotations

import redis

from actors.ports import RemoteFile
from actors.storage import FileLife
from gemini.errors import GeminiTransient
from jobs import Event, Job, RedisJobStore, State, new_job_id
from jobs.storage import StorageBudget
from jobs.store import chain_hooks
from tests.conftest import FakeClock


class MemoryFiles:
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.failing = 0  # the next deletes that fail transiently

    def get(self, name: str) -> RemoteFile:
        raise NotImplementedError

    def delete(self, name: str) -> None:
        if self.failing:
            self.failing -= 1
            raise GeminiTransient("503 from Gemini", None)
        self.names.discard(name)


def setup(redis_client: redis.Redis, namespace: str, clock: FakeClock) -> tuple[RedisJobStore, StorageBudget,
                                                                              MemoryFiles, FileLife]:
    budget = StorageBudget(redis_client, namespace, budget=1000, file_ttl_s=600)
    store = RedisJobStore(redis_client, namespace, clock, 3600, on_transition=chain_hooks(budget.on_transition))
    files = MemoryFiles()
    return store, budget, files, FileLife(store, budget, files, clock)


def active_job(store: RedisJobStore, budget: StorageBudget, files: MemoryFiles, clock: FakeClock) -> Job:
    job_id = new_job_id()
    store.claim(Job(job_id=job_id, attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
                    updated_at=clock(), bytes_total=100))
    store.transition(job_id, Event.SPOOL_COMPLETE)
    assert budget.reserve(job_id, 100)
    store.transition(job_id, Event.UPLOAD_STARTED)
    store.transition(job_id, Event.UPLOAD_FINISHED, gemini_file_name=f"files/{job_id.lower()}")
    files.names.add(f"files/{job_id.lower()}")
    return store.transition(job_id, Event.FILE_ACTIVE)


def test_a_file_expires_at_its_ttl_and_its_space_is_freed_only_once_it_is_deleted(
        redis_client: redis.Redis, namespace: str, clock: FakeClock) -> None:
    store, budget, files, life = setup(redis_client, namespace, clock)
    job = active_job(store, budget, files, clock)
    clock.advance(599)
    assert life.sweep() == (0, 0)
    clock.advance(1)
    files.failing = 1
    assert life.sweep() == (1, 0)  # EXPIRED, but the delete failed: the file may still be there
    assert store.get(job.job_id).state is State.EXPIRED and budget.used() == 100
    assert life.sweep() == (0, 1)  # the next sweep deletes it and frees the space
    assert files.names == set() and budget.used() == 0
    assert life.sweep() == (0, 0)  # and nothing twice


def test_a_deleted_job_is_settled_by_the_sweeper_if_its_message_was_lost(
        redis_client: redis.Redis, namespace: str, clock: FakeClock) -> None:
    store, budget, files, life = setup(redis_client, namespace, clock)
    job = active_job(store, budget, files, clock)
    store.transition(job.job_id, Event.DELETE, deleted_at=clock())
    assert budget.used() == 100  # still counted: nobody deleted the file yet
    assert life.sweep() == (0, 1)
    assert files.names == set() and budget.used() == 0


def test_bytes_of_a_job_whose_record_is_gone_are_freed_at_its_files_end(
        redis_client: redis.Redis, namespace: str, clock: FakeClock) -> None:
    store, budget, files, life = setup(redis_client, namespace, clock)
    job = active_job(store, budget, files, clock)
    redis_client.delete(f"{namespace}:job:{job.job_id}")  # FOCALPOINT_JOB_TTL shorter than the file's life
    assert life.sweep() == (0, 0) and budget.used() == 100
    clock.advance(600)
    assert life.sweep() == (0, 1) and budget.used() == 0
