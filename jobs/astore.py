"""The job store's async face, for the front door: :class:`AsyncRedisJobStore` on ``redis.asyncio``, and its
in-memory twin :class:`AsyncMemoryJobStore` for unit tests.

The same contract as :class:`jobs.store.JobStore`, awaited: no thread hop. The keys and what every
compare-and-set writes come from :class:`jobs.layout.Layout` (the sync face uses the same object), so the two
faces cannot drift apart. Redis errors become :class:`~jobs.errors.StoreUnavailable` here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import redis
import redis.asyncio

from focalpoint_upload.jobs.errors import IllegalTransition, JobNotFound, StaleJob, StoreUnavailable
from focalpoint_upload.jobs.layout import (
    APPLY_IF_VERSION,
    FIND_BY_ATTEMPT,
    Change,
    Layout,
    Unversioned,
    applied,
    decode,
    job_from,
    modify_change,
    next_version,
    pairs,
    text,
    transition_change,
    update_change,
)
from focalpoint_upload.jobs.machine import Event, State, is_final
from focalpoint_upload.jobs.record import ANONYMOUS_OWNER, Job

Clock = Callable[[], float]


class AsyncJobStore(Protocol):
    """:class:`jobs.store.JobStore`, awaited (see there for each method's contract)."""

    async def claim(self, job: Job, reusable: Callable[[Job], bool] | None = None) -> Job | None: ...

    async def get(self, job_id: str, owner: str | None = None) -> Job | None: ...

    async def find_by_attempt(self, attempt_id: str, owner: str = ANONYMOUS_OWNER) -> Job | None: ...

    async def transition(self, job_id: str, event: Event, *, expect: State | None = None, known: Job | None = None,
                         **fields: Any) -> Job:
        """``known``: the caller's copy of the job, saving a read when it is current (any copy is safe)."""

    async def update(self, job_id: str, *, expect: State, known: Job | None = None, **fields: Any) -> Job: ...

    async def modify(self, job_id: str, change: Callable[[Job], Job], *, known: Job | None = None) -> Job: ...


class AsyncRedisJobStore:
    """:class:`AsyncJobStore` on ``redis.asyncio``. Reads are one round trip (a job by attempt too: one script);
    a compare-and-set is WATCH + HGETALL + MULTI/EXEC, as on the sync face."""

    def __init__(self, client: redis.asyncio.Redis, layout: Layout, clock: Clock) -> None:
        self._r = client
        self.layout = layout
        self._clock = clock
        self._find = client.register_script(FIND_BY_ATTEMPT)
        self._apply = client.register_script(APPLY_IF_VERSION)

    async def get(self, job_id: str, owner: str | None = None) -> Job | None:
        async with _translated():
            raw = cast(dict[bytes, bytes], await self._r.hgetall(self.layout.job_key(job_id)))  # type: ignore[misc]
        return job_from(raw, owner)

    async def find_by_attempt(self, attempt_id: str, owner: str = ANONYMOUS_OWNER) -> Job | None:
        async with _translated():
            found = cast(list[Any], await self._find(keys=[self.layout.attempt_key(owner, attempt_id)],
                                                     args=[self.layout.job_prefix]))
        return job_from(pairs(found[1]), owner) if found else None

    async def claim(self, job: Job, reusable: Callable[[Job], bool] | None = None) -> Job | None:
        attempt_key = self.layout.attempt_key(job.owner, job.attempt_id)
        async with _translated(), self._r.pipeline() as pipe:
            while True:
                try:
                    await pipe.watch(attempt_key)
                    bound = cast(bytes | None, await pipe.get(attempt_key))
                    if bound is not None:
                        raw = cast(dict[bytes, bytes],
                                   await pipe.hgetall(self.layout.job_key(text(bound))))  # type: ignore[misc]
                        if raw:
                            await pipe.watch(self.layout.job_key(text(bound)))
                            existing = Job.from_hash(decode(raw))
                            if reusable is None or not reusable(existing):
                                await pipe.reset()  # type: ignore[no-untyped-call]
                                return existing
                    pipe.multi()  # type: ignore[no-untyped-call]
                    self.layout.queue_claim(pipe, job)
                    await pipe.execute()
                    return None
                except redis.WatchError:
                    continue

    async def transition(self, job_id: str, event: Event, *, expect: State | None = None, known: Job | None = None,
                   **fields: Any) -> Job:
        return await self._cas(job_id, transition_change(job_id, event, expect, fields), known)

    async def update(self, job_id: str, *, expect: State, known: Job | None = None, **fields: Any) -> Job:
        return await self._cas(job_id, update_change(job_id, expect, fields), known)

    async def modify(self, job_id: str, change: Callable[[Job], Job], *, known: Job | None = None) -> Job:
        return await self._cas(job_id, modify_change(change), known)

    async def _cas(self, job_id: str, change: Change, known: Job | None) -> Job:
        """One compare-and-set (see ``jobs.layout``): computed from ``known`` (the caller's copy of the job; if
        stale, the script answers the current record and it is computed again) or from a fresh read."""
        key = self.layout.job_key(job_id)
        old = known
        async with _translated():
            while True:
                if old is None:
                    raw = cast(dict[bytes, bytes], await self._r.hgetall(key))  # type: ignore[misc]
                    if not raw:
                        raise JobNotFound(job_id)
                    old = Job.from_hash(decode(raw))
                new = next_version(old, change, self._clock())
                args = self.layout.plan(old, new)
                if args is None:
                    return await self._cas_watch(job_id, change)
                try:
                    old = applied(await self._apply(keys=[key], args=args), old)
                except Unversioned:
                    return await self._cas_watch(job_id, change)
                if old is None:
                    return new

    async def _cas_watch(self, job_id: str, change: Change) -> Job:
        key = self.layout.job_key(job_id)
        async with _translated(), self._r.pipeline() as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = cast(dict[bytes, bytes], await pipe.hgetall(key))  # type: ignore[misc]
                    if not raw:
                        raise JobNotFound(job_id)
                    old = Job.from_hash(decode(raw))
                    new = next_version(old, change, self._clock())
                    pipe.multi()  # type: ignore[no-untyped-call]
                    self.layout.queue_write(pipe, old, new)
                    await pipe.execute()
                    return new
                except redis.WatchError:
                    continue

    async def close(self) -> None:
        await self._r.aclose()


class AsyncMemoryJobStore:
    """The in-memory twin of :class:`AsyncRedisJobStore` (one process, no Redis) for the front door's unit tests:
    the same change functions (:mod:`jobs.layout`), the same owner scoping and attempt binding. No TTLs and no
    transition hooks; ``known`` is ignored (there is no round trip to save)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.jobs: dict[str, Job] = {}
        self.attempts: dict[tuple[str, str], str] = {}
        self.down = False  # True: every call raises StoreUnavailable (Redis unreachable)

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("job store unavailable: down (memory twin)")

    async def get(self, job_id: str, owner: str | None = None) -> Job | None:
        self._check()
        job = self.jobs.get(job_id)
        return job if job is not None and (owner is None or job.owner == owner) else None

    async def find_by_attempt(self, attempt_id: str, owner: str = ANONYMOUS_OWNER) -> Job | None:
        self._check()
        job_id = self.attempts.get((owner, attempt_id))
        return await self.get(job_id, owner) if job_id is not None else None

    async def claim(self, job: Job, reusable: Callable[[Job], bool] | None = None) -> Job | None:
        self._check()
        bound = self.attempts.get((job.owner, job.attempt_id))
        existing = self.jobs.get(bound) if bound is not None else None
        if existing is not None and (reusable is None or not reusable(existing)):
            return existing
        self.attempts[(job.owner, job.attempt_id)] = job.job_id
        self.jobs[job.job_id] = job
        return None

    async def transition(self, job_id: str, event: Event, *, expect: State | None = None, known: Job | None = None,
                         **fields: Any) -> Job:
        return self._cas(job_id, transition_change(job_id, event, expect, fields))

    async def update(self, job_id: str, *, expect: State, known: Job | None = None, **fields: Any) -> Job:
        return self._cas(job_id, update_change(job_id, expect, fields))

    async def modify(self, job_id: str, change: Callable[[Job], Job], *, known: Job | None = None) -> Job:
        return self._cas(job_id, modify_change(change))

    def _cas(self, job_id: str, change: Change) -> Job:
        self._check()
        old = self.jobs.get(job_id)
        if old is None:
            raise JobNotFound(job_id)
        new = next_version(old, change, self._clock())
        self.jobs[job_id] = new
        return new

    def open_jobs(self) -> list[str]:
        return [j.job_id for j in self.jobs.values() if not is_final(j.state)]


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """redis-py's connection and server errors become :class:`StoreUnavailable` at this boundary."""
    try:
        yield
    except (IllegalTransition, StaleJob, JobNotFound):
        raise
    except (redis.RedisError, OSError) as exc:
        raise StoreUnavailable(f"job store unavailable: {exc}") from exc
