"""Per-job leases: at most one worker uploads a job's bytes at a time.

Dramatiq delivers at least once, and a message can be redelivered while its first delivery still runs (a
worker whose heartbeat lapsed, field notes). Two uploaders on one resumable session would fight over the
offset, so an upload run holds ``lease:{jobId}`` (SET NX PX) and renews it with each chunk; a run that finds
the lease taken leaves quietly. A dead worker's lease expires by itself after ``ttl_s``.

The lease is kept alive by a small thread renewing it every third of its ttl (``Leases.hold``), so the ttl can
be short (a dead worker's lease frees itself as soon as its heartbeat lapses) whatever a chunk's duration.
The sweeper reads the lease too: an UPLOADING job with no lease and no recent progress has no live run.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

import redis

from jobs.errors import StoreUnavailable


def _wait(done: threading.Event, seconds: float) -> bool:
    return done.wait(seconds)


class Leases:
    """``wait(done, seconds)`` is how the keeper thread lets a third of the ttl pass between renewals (True:
    the holder is done, stop). Tests pass their own to make "time passes" a step they take."""

    def __init__(self, client: redis.Redis, namespace: str, ttl_s: float,
                 wait: Callable[[threading.Event, float], bool] = _wait) -> None:
        self._r = client
        self._ns = namespace
        self._ttl_ms = int(ttl_s * 1000)
        self._wait = wait

    def _key(self, job_id: str) -> str:
        return f"{self._ns}:lease:{job_id}"

    def acquire(self, job_id: str) -> str | None:
        """A token if the lease was free (now ours), else None."""
        token = secrets.token_hex(8)
        try:
            ok = self._r.set(self._key(job_id), token, nx=True, px=self._ttl_ms)
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc
        return token if ok else None

    def renew(self, job_id: str, token: str) -> bool:
        """Extend our lease; False if it is no longer ours (it expired and someone else took it)."""
        return self._if_ours(job_id, token, renew=True)

    def release(self, job_id: str, token: str) -> None:
        self._if_ours(job_id, token, renew=False)

    @contextmanager
    def hold(self, job_id: str) -> Iterator[LeaseHandle | None]:
        """Take the lease and keep it renewed until the block ends; yields None if it was taken already."""
        token = self.acquire(job_id)
        if token is None:
            yield None
            return
        handle = LeaseHandle()
        keeper = threading.Thread(target=self._keep, args=(job_id, token, handle), daemon=True,
                                  name=f"lease-{job_id[:8]}")
        keeper.start()
        try:
            yield handle
        finally:
            handle.done.set()
            keeper.join(5)
            try:
                self.release(job_id, token)
            except StoreUnavailable:
                pass  # it expires by itself

    def _keep(self, job_id: str, token: str, handle: LeaseHandle) -> None:
        while not self._wait(handle.done, self._ttl_ms / 3000):
            try:
                if not self.renew(job_id, token):
                    handle.lost.set()
                    return
            except StoreUnavailable:
                continue  # keep trying; the upload's own store writes fail loudly meanwhile

    @property
    def ttl_s(self) -> float:
        return self._ttl_ms / 1000

    def held(self, job_id: str) -> bool:
        try:
            return bool(self._r.exists(self._key(job_id)))
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def _if_ours(self, job_id: str, token: str, *, renew: bool) -> bool:
        key = self._key(job_id)
        try:
            with self._r.pipeline() as pipe:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    current = cast(bytes | None, pipe.get(key))
                    if current is None or current.decode() != token:
                        pipe.reset()
                        return False
                    pipe.multi()
                    if renew:
                        pipe.pexpire(key, self._ttl_ms)
                    else:
                        pipe.delete(key)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    return False
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc


class LeaseHandle:
    """``lost`` is set when the lease could not be renewed: another run may own the job now."""

    def __init__(self) -> None:
        self.lost = threading.Event()
        self.done = threading.Event()
