"""One writer per resumable upload, across every front door: a Redis lease with an owner token, and takeover.

The lease is :class:`jobs.lease.Leases` (the same SET NX PX / compare-and-renew the upload actors use), under
its own key prefix. On top of it, a newcomer that finds the lease held *asks* for it (a short-lived
``want`` key); the holder sees the request at its next renewal, writes out what it has, releases, and ends its
request: tusd's behaviour, so a PATCH or HEAD after a dropped connection takes over from the dead request
instead of waiting for it to time out. A holder whose front door died never answers: its lease expires after
``ttl_s`` and the newcomer gets it then (it waits up to ``wait_s``; after that the caller answers 423, which
tus-js-client retries without starting a new upload).

A holder may write only while :meth:`Hold.valid`: less than half a ttl since its last successful renewal. A
holder cut off from Redis therefore stops writing well before its lease can pass to anyone else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis

from focalpoint_upload.jobs.errors import StoreUnavailable
from focalpoint_upload.jobs.lease import Leases

Call = Callable[..., Awaitable[Any]]  # runs a blocking function off the IOLoop (Frontdoor.call)


class LeaseStore(Protocol):
    def acquire(self, job_id: str) -> str | None: ...

    def renew(self, job_id: str, token: str) -> bool: ...

    def release(self, job_id: str, token: str) -> None: ...

    def ask(self, job_id: str) -> None:
        """Ask the current holder to let go (expires by itself after a ttl)."""

    def asked(self, job_id: str) -> bool: ...

    def clear(self, job_id: str) -> None: ...


class UploadLeases(Leases):
    """:class:`Leases` on ``{ns}:upload:lease:{jobId}`` plus the takeover request ``{ns}:upload:want:{jobId}``."""

    def __init__(self, client: redis.Redis, namespace: str, ttl_s: float) -> None:
        super().__init__(client, f"{namespace}:upload", ttl_s)
        self._client, self._want = client, f"{namespace}:upload:want:"

    def ask(self, job_id: str) -> None:
        self._do(lambda: self._client.set(self._want + job_id, b"1", px=int(self.ttl_s * 1000)))

    def asked(self, job_id: str) -> bool:
        return bool(self._do(lambda: self._client.exists(self._want + job_id)))

    def clear(self, job_id: str) -> None:
        self._do(lambda: self._client.delete(self._want + job_id))

    @staticmethod
    def _do(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc


class MemoryLeases:
    """The in-memory twin of :class:`UploadLeases` for unit tests (one process, a hand-moved clock)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self.ttl_s, self._clock = ttl_s, clock
        self._held: dict[str, tuple[str, float]] = {}
        self._asked: dict[str, float] = {}
        self._n = 0

    def acquire(self, job_id: str) -> str | None:
        held = self._held.get(job_id)
        if held is not None and held[1] > self._clock():
            return None
        self._n += 1
        token = f"t{self._n}"
        self._held[job_id] = (token, self._clock() + self.ttl_s)
        return token

    def renew(self, job_id: str, token: str) -> bool:
        held = self._held.get(job_id)
        if held is None or held[0] != token or held[1] <= self._clock():
            return False
        self._held[job_id] = (token, self._clock() + self.ttl_s)
        return True

    def release(self, job_id: str, token: str) -> None:
        if self._held.get(job_id, ("",))[0] == token:
            del self._held[job_id]

    def ask(self, job_id: str) -> None:
        self._asked[job_id] = self._clock() + self.ttl_s

    def asked(self, job_id: str) -> bool:
        return self._asked.get(job_id, 0.0) > self._clock()

    def clear(self, job_id: str) -> None:
        self._asked.pop(job_id, None)


class Hold:
    """A lease this request holds. ``valid()`` may be read from any thread (the spool writer checks it)."""

    def __init__(self, locker: Locker, job_id: str, token: str) -> None:
        self.locker, self.job_id, self.token = locker, job_id, token
        self.renewed_at = locker.monotonic()
        self.released = False

    def valid(self) -> bool:
        return not self.released and self.locker.monotonic() - self.renewed_at < self.locker.ttl_s / 2

    async def keep(self) -> bool:
        """Renew; False if the lease is lost or another request asked for it (then stop writing and end)."""
        try:
            if not await self.locker.call(self.locker.leases.renew, self.job_id, self.token):
                return False
            self.renewed_at = self.locker.monotonic()
            return not await self.locker.call(self.locker.leases.asked, self.job_id)
        except StoreUnavailable:
            return self.valid()  # try again at the next tick; writes stop by themselves when it runs out

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            await self.locker.call(self.locker.leases.release, self.job_id, self.token)
        except StoreUnavailable:
            pass  # it expires by itself


class Locker:
    def __init__(self, leases: LeaseStore, call: Call, ttl_s: float, wait_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.leases, self.call, self.ttl_s, self.wait_s, self.monotonic = leases, call, ttl_s, wait_s, monotonic

    async def take(self, job_id: str) -> Hold | None:
        """The upload's lease, taken over from its holder if need be; None if it could not be had in time."""
        deadline = self.monotonic() + self.wait_s
        pause = 0.02
        while True:
            token = await self.call(self.leases.acquire, job_id)
            if token is not None:
                await self.call(self.leases.clear, job_id)
                return Hold(self, job_id, token)
            await self.call(self.leases.ask, job_id)
            if self.monotonic() >= deadline:
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)
