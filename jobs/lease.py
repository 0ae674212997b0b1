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
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import redis

from focalpoint_upload.jobs.errors import StoreUnavailable

# KEYS: the lease. ARGV: token, ttl in ms (renew) or 0 (release). 1 if the lease was ours (renewed or deleted),
# else 0. One round trip, atomic; shared by the front door's async locker (``frontdoor.locker``).
IF_OURS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
return 1
"""


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
        self._if_ours_script = client.register_script(IF_OURS)

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
        try:
            return bool(self._if_ours_script(keys=[self._key(job_id)], args=[token, self._ttl_ms if renew else 0]))
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc


class LeaseHandle:
    """``lost`` is set when the lease could not be renewed: another run may own the job now."""

    def __init__(self) -> None:
        self.lost = threading.Event()
        self.done = threading.Event()


class JobLeases(Protocol):
    """Per-job leases as the leg and the sweeper use them: :class:`Leases` (Redis) or :class:`MemoryLeases`."""

    def acquire(self, job_id: str) -> str | None: ...

    def renew(self, job_id: str, token: str) -> bool: ...

    def release(self, job_id: str, token: str) -> None: ...

    def hold(self, job_id: str) -> AbstractContextManager[LeaseHandle | None]: ...

    def held(self, job_id: str) -> bool: ...

    @property
    def ttl_s(self) -> float: ...


class MemoryLeases:
    """The in-memory twin of :class:`Leases` for unit tests; time is the injected clock.

    A lease taken by :meth:`acquire` lapses ``ttl_s`` after its last renewal by that clock (a holder that
    died). One held by :meth:`hold` is renewed for as long as its block runs, as the keeper thread does, with
    no thread: it lapses only when a test calls :meth:`take_over` (as if another run had taken the job after a
    lapse), which also sets the handle's ``lost``.
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._leases: dict[str, tuple[str, float]] = {}  # job id -> (token, lapses at)
        self._handles: dict[str, LeaseHandle] = {}
        self._n = 0

    @property
    def ttl_s(self) -> float:
        return self._ttl

    def acquire(self, job_id: str) -> str | None:
        with self._lock:
            if self._live(job_id) is not None:
                return None
            self._n += 1
            token = f"lease-{self._n}"
            self._leases[job_id] = (token, self._clock() + self._ttl)
            return token

    def renew(self, job_id: str, token: str) -> bool:
        with self._lock:
            if self._live(job_id) != token:
                return False
            self._leases[job_id] = (token, self._clock() + self._ttl)
            return True

    def release(self, job_id: str, token: str) -> None:
        with self._lock:
            if self._live(job_id) == token:
                del self._leases[job_id]

    def held(self, job_id: str) -> bool:
        with self._lock:
            return self._live(job_id) is not None

    @contextmanager
    def hold(self, job_id: str) -> Iterator[LeaseHandle | None]:
        token = self.acquire(job_id)
        if token is None:
            yield None
            return
        handle = LeaseHandle()
        with self._lock:
            self._leases[job_id] = (token, float("inf"))  # kept alive while the block runs
            self._handles[job_id] = handle
        try:
            yield handle
        finally:
            handle.done.set()
            with self._lock:
                if self._handles.get(job_id) is handle:
                    del self._handles[job_id]
            self.release(job_id, token)

    def take_over(self, job_id: str) -> None:
        """Another run takes the job's lease: the current holder's handle is ``lost``."""
        with self._lock:
            handle = self._handles.pop(job_id, None)
            self._leases[job_id] = ("someone-else", self._clock() + self._ttl)
        if handle is not None:
            handle.lost.set()

    def _live(self, job_id: str) -> str | None:
        lease = self._leases.get(job_id)
        if lease is None or lease[1] <= self._clock():
            self._leases.pop(job_id, None)
            return None
        return lease[0]
