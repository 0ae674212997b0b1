"""The job store: the interface and its Redis adapter.

Every state change is a compare-and-set (WATCH/MULTI): the new state is computed by ``jobs.machine.advance``
from the state read under WATCH, so a stale writer (a second delivery of a message, a cancel racing an
upload) either applies a legal move or gets :class:`StaleJob`/:class:`IllegalTransition`, never a backwards
move.

Keys, all under the namespace: ``job:{id}`` (hash), ``attempt:{owner}:{attemptId}`` (-> job id), ``open`` (sorted
set of non-final job ids scored by their last update, for the sweeper). AttemptIds are scoped per owner: two
owners may use the same id and get two jobs. The anonymous owner's attempts keep the key ``attempt:{attemptId}``
they had before jobs had owners, so records written then are still found (an attemptId never holds a ``:``, so
the two forms cannot collide).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, cast

import redis

from focalpoint_upload.jobs.errors import IllegalTransition, JobNotFound, StaleJob, StoreUnavailable
from focalpoint_upload.jobs.machine import Event, State, advance, is_final
from focalpoint_upload.jobs.record import ANONYMOUS_OWNER, Job

Clock = Callable[[], float]
# Called with the pipeline (in MULTI), the job before and after every compare-and-set; what it queues on the
# pipeline commits with the change or not at all (``jobs.outbox.Outbox.on_transition``).
TransitionHook = Callable[[Any, Job, Job], None]


class JobStore(Protocol):
    def claim(self, job: Job, reusable: Callable[[Job], bool] | None = None) -> Job | None:
        """Create ``job`` and bind its attemptId to it, unless the attempt is bound already: then return the
        job it is bound to and create nothing. A bound job for which ``reusable`` is true (an attempt whose
        upload never completed) is taken over in the same compare-and-set."""

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, or None; given ``owner``, also None when the job belongs to someone else."""

    def find_by_attempt(self, attempt_id: str, owner: str = ANONYMOUS_OWNER) -> Job | None:
        """The job ``owner``'s ``attempt_id`` is bound to, or None."""

    def transition(self, job_id: str, event: Event, *, expect: State | None = None, **fields: Any) -> Job:
        """Apply ``event`` (and set ``fields``) atomically; ``expect`` also requires the current state."""

    def update(self, job_id: str, *, expect: State, **fields: Any) -> Job:
        """Set ``fields`` if the job is still in state ``expect``."""

    def open_jobs(self, older_than: float | None = None) -> list[str]: ...

    def modify(self, job_id: str, change: Callable[[Job], Job]) -> Job:
        """Apply ``change`` to the current job atomically (it may raise to refuse; it may not change the
        state); returns the new job."""


class RedisJobStore:
    """:class:`JobStore` on Redis. Thread-safe (redis-py pools connections); all calls are blocking."""

    def __init__(self, client: redis.Redis, namespace: str, clock: Clock, final_ttl_s: float,
                 on_transition: TransitionHook | None = None) -> None:
        self._r = client
        self._ns = namespace
        self._clock = clock
        self._ttl = max(1, int(final_ttl_s))
        self._on_transition = on_transition

    # --- keys ---------------------------------------------------------------------------------------------
    def _job_key(self, job_id: str) -> str:
        return f"{self._ns}:job:{job_id}"

    def _attempt_key(self, owner: str, attempt_id: str) -> str:
        if owner == ANONYMOUS_OWNER:
            return f"{self._ns}:attempt:{attempt_id}"
        return f"{self._ns}:attempt:{owner}:{attempt_id}"

    @property
    def _open_key(self) -> str:
        return f"{self._ns}:open"

    # --- reads --------------------------------------------------------------------------------------------
    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        with _translated():
            raw = cast(dict[bytes, bytes], self._r.hgetall(self._job_key(job_id)))
        job = Job.from_hash(_decode(raw)) if raw else None
        return job if job is not None and (owner is None or job.owner == owner) else None

    def find_by_attempt(self, attempt_id: str, owner: str = ANONYMOUS_OWNER) -> Job | None:
        with _translated():
            job_id = cast(bytes | None, self._r.get(self._attempt_key(owner, attempt_id)))
        return self.get(_text(job_id), owner) if job_id else None

    def open_jobs(self, older_than: float | None = None) -> list[str]:
        with _translated():
            ids = cast(list[bytes], self._r.zrangebyscore(
                self._open_key, "-inf", "+inf" if older_than is None else older_than))
        return [_text(i) for i in ids]

    # --- writes -------------------------------------------------------------------------------------------
    def claim(self, job: Job, reusable: Callable[[Job], bool] | None = None) -> Job | None:
        attempt_key = self._attempt_key(job.owner, job.attempt_id)
        with _translated(), self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(attempt_key)  # type: ignore[no-untyped-call]
                    bound = cast(bytes | None, pipe.get(attempt_key))
                    if bound is not None:
                        raw = cast(dict[bytes, bytes], pipe.hgetall(self._job_key(_text(bound))))
                        if raw:
                            pipe.watch(self._job_key(_text(bound)))  # type: ignore[no-untyped-call]
                            existing = Job.from_hash(_decode(raw))
                            if reusable is None or not reusable(existing):
                                pipe.reset()
                                return existing
                        # An expired or reusable job: take the attempt over (still under WATCH).
                    pipe.multi()
                    pipe.set(attempt_key, job.job_id)
                    pipe.hset(self._job_key(job.job_id), mapping=job.to_hash())
                    pipe.zadd(self._open_key, {job.job_id: job.updated_at})
                    pipe.execute()
                    return None
                except redis.WatchError:
                    continue

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
        key = self._job_key(job_id)
        with _translated(), self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = cast(dict[bytes, bytes], pipe.hgetall(key))
                    if not raw:
                        raise JobNotFound(job_id)
                    old = Job.from_hash(_decode(raw))
                    new = change(old).with_(updated_at=self._clock(), version=old.version + 1)
                    pipe.multi()
                    pipe.hset(key, mapping=new.to_hash())
                    gone = [f for f in old.to_hash() if f not in new.to_hash()]
                    if gone:
                        pipe.hdel(key, *gone)
                    if is_final(new.state):
                        pipe.zrem(self._open_key, job_id)
                        pipe.expire(key, self._ttl)
                        pipe.expire(self._attempt_key(new.owner, new.attempt_id), self._ttl)
                    else:
                        pipe.zadd(self._open_key, {job_id: new.updated_at})
                        if is_final(old.state):  # retried: it must not expire while it runs again
                            pipe.persist(key)
                            pipe.persist(self._attempt_key(new.owner, new.attempt_id))
                    if self._on_transition is not None:
                        self._on_transition(pipe, old, new)  # in the same MULTI (the webhook outbox)
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue


def chain_hooks(*hooks: TransitionHook) -> TransitionHook:
    """One transition hook that runs ``hooks`` in order (all on the same pipeline, in the same MULTI)."""
    def run(pipe: Any, old: Job, new: Job) -> None:
        for hook in hooks:
            hook(pipe, old, new)

    return run


def _decode(raw: dict[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@contextmanager
def _translated() -> Iterator[None]:
    """Translate redis-py's connection and server errors into :class:`StoreUnavailable` at this boundary."""
    try:
        yield
    except (IllegalTransition, StaleJob, JobNotFound):
        raise
    except redis.RedisError as exc:
        raise StoreUnavailable(f"job store unavailable: {exc}") from exc
