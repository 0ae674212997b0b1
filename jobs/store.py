"""The job store: the interface and its synchronous Redis adapter (the actors' face).

Every state change is a compare-and-set (WATCH/MULTI): the new state is computed by ``jobs.machine.advance``
from the state read under WATCH, so a stale writer (a second delivery of a message, a cancel racing an
upload) either applies a legal move or gets :class:`StaleJob`/:class:`IllegalTransition`, never a backwards
move. The key layout and what each compare-and-set writes are :mod:`jobs.layout`'s, shared with the front
door's async face (:mod:`jobs.astore`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, cast

import redis

from focalpoint_upload.jobs.errors import IllegalTransition, JobNotFound, StaleJob, StoreUnavailable
from focalpoint_upload.jobs.layout import (
    APPLY_IF_VERSION,
    FIND_BY_ATTEMPT,
    Change,
    Layout,
    TransitionHook,
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
from focalpoint_upload.jobs.machine import Event, State
from focalpoint_upload.jobs.record import ANONYMOUS_OWNER, Job

Clock = Callable[[], float]
__all__ = ["Clock", "JobStore", "RedisJobStore", "TransitionHook", "chain_hooks"]


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
    """:class:`JobStore` on Redis. Thread-safe (redis-py pools connections); all calls are blocking.

    The keys and what a compare-and-set writes are :class:`jobs.layout.Layout`'s, shared with the front door's
    async face (``jobs.astore``)."""

    def __init__(self, client: redis.Redis, namespace: str, clock: Clock, final_ttl_s: float,
                 on_transition: TransitionHook | None = None) -> None:
        self._r = client
        self._clock = clock
        self.layout = Layout(namespace, final_ttl_s, on_transition)
        self._find = client.register_script(FIND_BY_ATTEMPT)
        self._apply = client.register_script(APPLY_IF_VERSION)

    # --- reads --------------------------------------------------------------------------------------------
    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        with _translated():
            raw = cast(dict[bytes, bytes], self._r.hgetall(self.layout.job_key(job_id)))
        return job_from(raw, owner)

    def find_by_attempt(self, attempt_id: str, owner: str = ANONYMOUS_OWNER) -> Job | None:
        with _translated():
            found = cast(list[Any], self._find(keys=[self.layout.attempt_key(owner, attempt_id)],
                                               args=[self.layout.job_prefix]))
        return job_from(pairs(found[1]), owner) if found else None

    def open_jobs(self, older_than: float | None = None) -> list[str]:
        with _translated():
            ids = cast(list[bytes], self._r.zrangebyscore(
                self.layout.open_key, "-inf", "+inf" if older_than is None else older_than))
        return [text(i) for i in ids]

    # --- writes -------------------------------------------------------------------------------------------
    def claim(self, job: Job, reusable: Callable[[Job], bool] | None = None) -> Job | None:
        attempt_key = self.layout.attempt_key(job.owner, job.attempt_id)
        with _translated(), self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(attempt_key)  # type: ignore[no-untyped-call]
                    bound = cast(bytes | None, pipe.get(attempt_key))
                    if bound is not None:
                        raw = cast(dict[bytes, bytes], pipe.hgetall(self.layout.job_key(text(bound))))
                        if raw:
                            pipe.watch(self.layout.job_key(text(bound)))  # type: ignore[no-untyped-call]
                            existing = Job.from_hash(decode(raw))
                            if reusable is None or not reusable(existing):
                                pipe.reset()
                                return existing
                        # An expired or reusable job: take the attempt over (still under WATCH).
                    pipe.multi()
                    self.layout.queue_claim(pipe, job)
                    pipe.execute()
                    return None
                except redis.WatchError:
                    continue

    def transition(self, job_id: str, event: Event, *, expect: State | None = None, known: Job | None = None,
                   **fields: Any) -> Job:
        return self._cas(job_id, transition_change(job_id, event, expect, fields), known)

    def update(self, job_id: str, *, expect: State, known: Job | None = None, **fields: Any) -> Job:
        return self._cas(job_id, update_change(job_id, expect, fields), known)

    def modify(self, job_id: str, change: Callable[[Job], Job], *, known: Job | None = None) -> Job:
        return self._cas(job_id, modify_change(change), known)

    def _cas(self, job_id: str, change: Change, known: Job | None) -> Job:
        """One compare-and-set (see ``jobs.layout``): computed from ``known`` (the caller's copy of the job; if
        stale, the script answers the current record and it is computed again) or from a fresh read."""
        key = self.layout.job_key(job_id)
        old = known
        with _translated():
            while True:
                if old is None:
                    raw = cast(dict[bytes, bytes], self._r.hgetall(key))
                    if not raw:
                        raise JobNotFound(job_id)
                    old = Job.from_hash(decode(raw))
                new = next_version(old, change, self._clock())
                args = self.layout.plan(old, new)
                if args is None:
                    return self._cas_watch(job_id, change)
                try:
                    old = applied(self._apply(keys=[key], args=args), old)
                except Unversioned:
                    return self._cas_watch(job_id, change)
                if old is None:
                    return new

    def _cas_watch(self, job_id: str, change: Change) -> Job:
        key = self.layout.job_key(job_id)
        with _translated(), self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = cast(dict[bytes, bytes], pipe.hgetall(key))
                    if not raw:
                        raise JobNotFound(job_id)
                    old = Job.from_hash(decode(raw))
                    new = next_version(old, change, self._clock())
                    pipe.multi()
                    self.layout.queue_write(pipe, old, new)
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


@contextmanager
def _translated() -> Iterator[None]:
    """Translate redis-py's connection and server errors into :class:`StoreUnavailable` at this boundary."""
    try:
        yield
    except (IllegalTransition, StaleJob, JobNotFound):
        raise
    except redis.RedisError as exc:
        raise StoreUnavailable(f"job store unavailable: {exc}") from exc
