"""The global cap on concurrent Gemini uploads, across all workers, with slots that die with their worker.

A slot is a member of the sorted set ``{ns}:gemini-upload-slots`` scored by its expiry time. Taking one
(WATCH/MULTI): drop expired members, count, add ours if under the limit. A keeper thread pushes our expiry
forward every third of the ttl while the upload runs; a worker killed with SIGKILL stops renewing, so its slot
lapses after one ttl (the worker heartbeat timeout), not after a fixed long one. (Dramatiq's
ConcurrentRateLimiter, used before, cannot renew: its ttl had to outlast the longest upload run, and a killed
worker's slot blocked others for that long.)
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis


def _wait(done: threading.Event, seconds: float) -> bool:
    return done.wait(seconds)


class RedisSlots:
    """``clock`` scores the slots; ``wait(done, seconds)`` is how the keeper lets a third of the ttl pass
    between renewals (True: the holder is done). Tests pass both, so time passing is a step they take."""

    def __init__(self, client: redis.Redis, namespace: str, limit: int, ttl_s: float,
                 clock: Callable[[], float] = time.time,
                 wait: Callable[[threading.Event, float], bool] = _wait) -> None:
        self._r = client
        self._key = f"{namespace}:gemini-upload-slots"
        self._limit = limit
        self._ttl = ttl_s
        self._clock = clock
        self._wait = wait

    @contextmanager
    def hold(self) -> Iterator[bool]:
        """Yield True with a slot held (released on exit) or False if all ``limit`` slots are taken."""
        member = secrets.token_hex(8)
        if not self._take(member):
            yield False
            return
        done = threading.Event()
        keeper = threading.Thread(target=self._keep, args=(member, done), daemon=True, name="gemini-slot")
        keeper.start()
        try:
            yield True
        finally:
            done.set()
            keeper.join(5)
            try:
                self._r.zrem(self._key, member)
            except redis.RedisError:
                pass  # it lapses by itself

    def in_use(self) -> int:
        return int(self._r.zcount(self._key, self._clock(), "+inf"))  # type: ignore[arg-type]

    def _take(self, member: str) -> bool:
        with self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self._key)  # type: ignore[no-untyped-call]
                    now = self._clock()
                    live = int(pipe.zcount(self._key, now, "+inf"))  # type: ignore[arg-type]
                    if live >= self._limit:
                        pipe.reset()
                        return False
                    pipe.multi()
                    pipe.zremrangebyscore(self._key, "-inf", now)
                    pipe.zadd(self._key, {member: now + self._ttl})
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def _keep(self, member: str, done: threading.Event) -> None:
        while not self._wait(done, self._ttl / 3):
            try:
                self._r.zadd(self._key, {member: self._clock() + self._ttl}, xx=True)
            except redis.RedisError:
                continue  # try again; if Redis stays away, the slot lapses like a dead worker's


class MemorySlots:
    """The in-memory twin of :class:`RedisSlots` for unit tests: ``limit`` slots in one process; a slot is
    held for exactly the ``with`` block (no ttl: there is no worker to die). ``taken`` counts grants."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._used = 0
        self.taken = 0

    @contextmanager
    def hold(self) -> Iterator[bool]:
        with self._lock:
            got = self._used < self._limit
            if got:
                self._used += 1
                self.taken += 1
        if not got:
            yield False
            return
        try:
            yield True
        finally:
            with self._lock:
                self._used -= 1

    def in_use(self) -> int:
        with self._lock:
            return self._used
