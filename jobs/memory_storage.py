"""The in-memory twin of :class:`jobs.storage.RedisStorageBudget` (the Gemini storage budget), for unit tests.

Same rules as the Redis scripts, checked by ``tests/jobs/test_storage_contract.py`` against both: a job's bytes
are counted once however often it reserves and released once however often it releases; a job alone may go
whatever its size; FAILED and CANCELLED release in the job store's transaction, ACTIVE enters the job for
expiry. As the job store's hook it works with :class:`jobs.memory.MemoryJobStore` only (its work is added to
the store's :class:`~jobs.memory.MemoryBatch` and applied with the change).
"""

from __future__ import annotations

import threading
from typing import Any

from focalpoint_upload.jobs.memory import MemoryBatch
from focalpoint_upload.jobs.record import Job
from focalpoint_upload.jobs.storage import file_end, frees_at_once, starts_file_life


class MemoryStorageBudget:
    """:class:`~jobs.storage.StorageBudget` in dicts. Thread-safe (one lock)."""

    def __init__(self, budget: int, file_ttl_s: float = 0.0) -> None:
        self._budget = budget
        self._ttl = file_ttl_s
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}
        self._expiry: dict[str, float] = {}

    @property
    def budget(self) -> int:
        return self._budget

    def reserve(self, job_id: str, size: int) -> bool:
        with self._lock:
            if job_id in self._held:
                return True
            used = sum(self._held.values())
            n = max(0, size)
            if used > 0 and used + n > self._budget:
                return False
            self._held[job_id] = n
            return True

    def release(self, job_id: str, pipe: Any = None) -> None:
        if isinstance(pipe, MemoryBatch):
            pipe.add(lambda: self.release(job_id))
            return
        with self._lock:
            self._expiry.pop(job_id, None)
            self._held.pop(job_id, None)

    def used(self) -> int:
        with self._lock:
            return sum(self._held.values())

    def held(self) -> dict[str, int]:
        with self._lock:
            return dict(self._held)

    def expiring(self, now: float) -> list[str]:
        with self._lock:
            return [job_id for end, job_id in sorted((e, j) for j, e in self._expiry.items()) if end <= now]

    def expires_at(self, job_id: str) -> float | None:
        with self._lock:
            return self._expiry.get(job_id)

    def file_end(self, job: Job, now: float) -> float:
        return file_end(job, now, self._ttl)

    def on_transition(self, pipe: Any, old: Job, new: Job) -> None:
        if frees_at_once(old, new):
            self.release(new.job_id, pipe)
        elif starts_file_life(old, new):
            end = self.file_end(new, new.updated_at)
            pipe.add(lambda: self._enter(new.job_id, end))

    def _enter(self, job_id: str, end: float) -> None:
        with self._lock:
            self._expiry[job_id] = end
