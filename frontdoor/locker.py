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
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis
import redis.asyncio

from focalpoint_upload.jobs.errors import StoreUnavailable
from focalpoint_upload.jobs.lease import IF_OURS

# KEYS: lease, want. ARGV: token, ttl ms. The lease if free (then any takeover request is cleared): 1; else the
# holder is asked to let go (the want key, for a ttl): 0. One round trip per try.
_TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('DEL', KEYS[2])
  return 1
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 0
"""

# KEYS: lease, want. ARGV: token, ttl ms. 0: the lease is not ours any more; 1: renewed; 2: renewed, but another
# request asked for it.
_KEEP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
return 1
"""

LOST, KEPT, ASKED = 0, 1, 2


class LeaseStore(Protocol):
    async def take(self, job_id: str) -> str | None:
        """A token if the lease was free (now ours; a pending takeover request is cleared); else None, and the
        holder is asked to let go (the request expires by itself after a ttl)."""

    async def keep(self, job_id: str, token: str) -> int:
        """Renew: :data:`LOST` (not ours any more), :data:`KEPT`, or :data:`ASKED` (renewed, but wanted)."""

    async def release(self, job_id: str, token: str) -> None: ...


class UploadLeases:
    """The lease ``{ns}:upload:lease:{jobId}`` (the key layout and compare-and-release of :class:`jobs.lease.Leases`)
    plus the takeover request ``{ns}:upload:want:{jobId}``, on ``redis.asyncio``: one round trip per call."""

    def __init__(self, client: redis.asyncio.Redis, namespace: str, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._ttl_ms = int(ttl_s * 1000)
        self._lease, self._want = f"{namespace}:upload:lease:", f"{namespace}:upload:want:"
        self._take = client.register_script(_TAKE)
        self._keep = client.register_script(_KEEP)
        self._if_ours = client.register_script(IF_OURS)

    async def take(self, job_id: str) -> str | None:
        token = secrets.token_hex(8)
        ok = await self._run(self._take, job_id, token, self._ttl_ms)
        return token if ok else None

    async def keep(self, job_id: str, token: str) -> int:
        return int(await self._run(self._keep, job_id, token, self._ttl_ms))

    async def release(self, job_id: str, token: str) -> None:
        await self._run(self._if_ours, job_id, token, 0, want=False)

    async def _run(self, script: Any, job_id: str, token: str, ttl_ms: int, *, want: bool = True) -> Any:
        keys = [self._lease + job_id] + ([self._want + job_id] if want else [])
        try:
            return await script(keys=keys, args=[token, ttl_ms])
        except (redis.RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc


class MemoryLeases:
    """The in-memory twin of :class:`UploadLeases` for unit tests (one process, a hand-moved clock)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self.ttl_s, self._clock = ttl_s, clock
        self._held: dict[str, tuple[str, float]] = {}
        self._asked: dict[str, float] = {}
        self._n = 0

    async def take(self, job_id: str) -> str | None:
        held = self._held.get(job_id)
        if held is not None and held[1] > self._clock():
            self._asked[job_id] = self._clock() + self.ttl_s
            return None
        self._n += 1
        token = f"t{self._n}"
        self._held[job_id] = (token, self._clock() + self.ttl_s)
        self._asked.pop(job_id, None)
        return token

    async def keep(self, job_id: str, token: str) -> int:
        held = self._held.get(job_id)
        if held is None or held[0] != token or held[1] <= self._clock():
            return LOST
        self._held[job_id] = (token, self._clock() + self.ttl_s)
        return ASKED if self._asked.get(job_id, 0.0) > self._clock() else KEPT

    async def release(self, job_id: str, token: str) -> None:
        if self._held.get(job_id, ("",))[0] == token:
            del self._held[job_id]


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
            kept = await self.locker.leases.keep(self.job_id, self.token)
        except StoreUnavailable:
            return self.valid()  # try again at the next tick; writes stop by themselves when it runs out
        if kept == LOST:
            return False
        self.renewed_at = self.locker.monotonic()
        return kept == KEPT

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            await self.locker.leases.release(self.job_id, self.token)
        except StoreUnavailable:
            pass  # it expires by itself


class Locker:
    def __init__(self, leases: LeaseStore, ttl_s: float, wait_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.leases, self.ttl_s, self.wait_s, self.monotonic = leases, ttl_s, wait_s, monotonic

    async def take(self, job_id: str) -> Hold | None:
        """The upload's lease, taken over from its holder if need be; None if it could not be had in time."""
        deadline = self.monotonic() + self.wait_s
        pause = 0.02
        while True:
            token = await self.leases.take(job_id)  # or asks the holder to let go
            if token is not None:
                return Hold(self, job_id, token)
            if self.monotonic() >= deadline:
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)
