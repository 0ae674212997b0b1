"""The in-memory twin of :class:`jobs.store.RedisJobStore`, for unit tests (as Dramatiq's ``StubBroker`` is for
its broker): the same :class:`~jobs.store.JobStore` interface, the same table (``jobs.machine.advance``), the
same compare-and-set rules, no Redis.

What it keeps the same, checked by the contract suite ``tests/jobs/test_store_contract.py`` that runs against
both: attempt binding per owner and its take-over, ``expect`` and :class:`StaleJob`, ``modify`` refusing state
moves, the version bump and ``updated_at`` from the clock, the open set ordered by last update, fields set to
None disappear (records go through ``Job.to_hash``/``Job.from_hash`` exactly as in Redis).

Differences, on purpose: final jobs expire by the injected clock (Redis uses its own), so a test can move
past ``final_ttl_s`` without waiting. Transition hooks get a :class:`MemoryBatch` instead of a Redis pipeline:
an in-memory hook (``MemoryStorageBudget.on_transition``, ``MemoryOutbox.on_transition``) adds its work to the
batch, and the batch runs after the job is written, under the store's lock, only when the change is applied
(a hook that raises leaves nothing behind). A Redis-backed hook cannot be mixed with this store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from focalpoint_upload.jobs.errors import IllegalTransition, JobNotFound, StaleJob
from focalpoint_upload.jobs.machine import Event, State, advance, is_final
from focalpoint_upload.jobs.record import ANONYMOUS_OWNER, Job
from focalpoint_upload.jobs.store import Clock, TransitionHook

Key = tuple[str, str]  # an attempt binding: (owner, attemptId)


class MemoryBatch:
    """What a transition hook gets from :class:`MemoryJobStore` in place of a pipeline in MULTI."""

    def __init__(self) -> None:
        self.ops: list[Callable[[], None]] = []

    def add(self, op: Callable[[], None]) -> None:
        self.ops.append(op)


class MemoryJobStore:
    """:class:`~jobs.store.JobStore` in a dict. Thread-safe (one lock); every call returns at once."""

    def __init__(self, clock: Clock, final_ttl_s: float = 3600.0, on_transition: TransitionHook | None = None) -> None:
        self._clock = clock
        self._ttl = max(1, int(final_ttl_s))
        self._on_transition = on_transition
        self._lock = threading.RLock()
        self._jobs: dict[str, dict[str, str]] = {}  # job id -> the hash Redis would hold
        self._attempts: dict[Key, str] = {}
        self._open: dict[str, float] = {}  # job id -> last update (the sorted set ``open``)
        self._job_end: dict[str, float] = {}  # expiry of final jobs' records ...
        self._attempt_end: dict[Key, float] = {}  # ... and of their attempt bindings

    # --- reads --------------------------------------------------------------------------------------------
    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        with self._lock:
            raw = self._raw(job_id)
        job = Job.from_hash(raw) if raw else None
        return job if job is not None and (owner is None or job.owner == owner) else None

    def find_by_attempt(self, attempt_id: str, owner: str = ANONYMOUS_OWNER) -> Job | None:
        with self._lock:
            job_id = self._bound((owner, attempt_id))
        return self.get(job_id, owner) if job_id else None

    def open_jobs(self, older_than: float | None = None) -> list[str]:
        with self._lock:
            rows = sorted((score, job_id) for job_id, score in self._open.items()
                          if older_than is None or score <= older_than)
        return [job_id for _, job_id in rows]

    # --- writes -------------------------------------------------------------------------------------------
    def claim(self, job: Job, reusable: Callable[[Job], bool] | None = None) -> Job | None:
        key = (job.owner, job.attempt_id)
        with self._lock:
            bound = self._bound(key)
            raw = self._raw(bound) if bound else None
            if raw:
                existing = Job.from_hash(raw)
                if reusable is None or not reusable(existing):
                    return existing
            self._attempts[key] = job.job_id
            self._attempt_end.pop(key, None)
            self._jobs[job.job_id] = job.to_hash()
            self._job_end.pop(job.job_id, None)
            self._open[job.job_id] = job.updated_at
            return None

    def transition(self, job_id: str, event: Event, *, expect: State | None = None, **fields: Any) -> Job:
        def change(job: Job) -> Job:
            if expect is not None and job.state != expect:
                raise StaleJob(job_id, expect, job.state)
            return job.with_(state=advance(job.state, event), **fields)

        return self._cas(job_id, change)

    def update(self, job_id: str, *, expect: State, **fields: Any) -> Job:
        def change(job: Job) -> Job:
            if job.state != expect:
                raise StaleJob(job_id, expect, job.state)
            return job.with_(**fields)

        return self._cas(job_id, change)

    def modify(self, job_id: str, change: Callable[[Job], Job]) -> Job:
        def guarded(job: Job) -> Job:
            new = change(job)
            if new.state != job.state:
                raise IllegalTransition(job.state, "modify")  # state moves go through transition()
            return new

        return self._cas(job_id, guarded)

    def _cas(self, job_id: str, change: Callable[[Job], Job]) -> Job:
        with self._lock:  # the lock is the WATCH: nobody writes between the read and the write
            raw = self._raw(job_id)
            if not raw:
                raise JobNotFound(job_id)
            old = Job.from_hash(raw)
            new = change(old).with_(updated_at=self._clock(), version=old.version + 1)
            batch = MemoryBatch()
            if self._on_transition is not None:
                self._on_transition(batch, old, new)
            key = (new.owner, new.attempt_id)
            self._jobs[job_id] = new.to_hash()
            if is_final(new.state):
                self._open.pop(job_id, None)
                self._job_end[job_id] = self._clock() + self._ttl
                if key in self._attempts:
                    self._attempt_end[key] = self._clock() + self._ttl
            else:
                self._open[job_id] = new.updated_at
                if is_final(old.state):  # retried: it must not expire while it runs again
                    self._job_end.pop(job_id, None)
                    self._attempt_end.pop(key, None)
            for op in batch.ops:
                op()
            return new

    # --- expiry (by the injected clock) ---------------------------------------------------------------------
    def _raw(self, job_id: str) -> dict[str, str] | None:
        end = self._job_end.get(job_id)
        if end is not None and end <= self._clock():
            self._jobs.pop(job_id, None)
            del self._job_end[job_id]
        return self._jobs.get(job_id)

    def _bound(self, key: Key) -> str | None:
        end = self._attempt_end.get(key)
        if end is not None and end <= self._clock():
            self._attempts.pop(key, None)
            del self._attempt_end[key]
        return self._attempts.get(key)
