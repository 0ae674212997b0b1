"""The cap on uploads streaming at once, per client IP and per principal, shared by every front door.

A slot is a lease: a member ``token`` in one sorted set per key, scored with its expiry. Taking slots on all of
a request's keys is one atomic step (a Lua script on Redis): expired leases are dropped first, and if any key
already holds its cap nothing is taken. The holder renews its lease while it streams (every
:data:`RENEW_EVERY_S`) and releases it when the request ends; a front door that dies without releasing frees its
slots when their leases expire (:data:`LEASE_S`). Because the sets live in the shared Redis, the cap holds across
every front door of a deployment.

- :class:`RedisUploadSlots` is the real adapter (``redis.asyncio``: one round trip per call, no thread); a Redis
  error becomes :class:`~jobs.StoreUnavailable` (the job store is the same Redis, so the upload could not go on).
- :class:`MemoryUploadSlots` is its in-memory twin (one process), for unit tests.
- :func:`principal_key` is the one place that says who the request's principal is.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import redis
import redis.asyncio

from focalpoint_upload.frontdoor.errors import ApiError, too_many_uploads
from focalpoint_upload.jobs import StoreUnavailable
from focalpoint_upload.ratelimit import ip_key

if TYPE_CHECKING:
    from focalpoint_upload.frontdoor.base import BaseHandler
    from focalpoint_upload.frontdoor.context import Frontdoor

log = logging.getLogger("focalpoint.frontdoor")

LEASE_S = 30.0
RENEW_EVERY_S = 10.0
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class SlotKey:
    kind: str  # "ip" or "principal": named in the 429's message
    key: str
    cap: int


class UploadSlots(Protocol):
    async def acquire(self, keys: Sequence[SlotKey], token: str, now: float) -> SlotKey | None:
        """Take a slot on every key for ``token`` until ``now + LEASE_S``; None, or the first key at its cap
        (then nothing was taken). Taking again with the same token renews it."""

    async def renew(self, keys: Sequence[SlotKey], token: str, now: float) -> None:
        """Push the lease of ``token`` to ``now + LEASE_S`` where it is still held."""

    async def release(self, keys: Sequence[SlotKey], token: str) -> None:
        """Give the slots of ``token`` back (nothing happens where it holds none)."""


def principal_key(handler: BaseHandler) -> str:
    """The key of the request's principal (``"anonymous"`` when auth is off)."""
    return handler.principal.key


def slot_keys(principal: str, client_ip: str, per_principal: int, per_ip: int) -> list[SlotKey]:
    """The keys a new upload takes a slot on. A cap of 0 is off. The anonymous principal is never capped as a
    principal: it stands for every client at once, so its cap would be a global one; the IP cap covers it."""
    keys = []
    if per_principal and principal != ANONYMOUS:
        keys.append(SlotKey("principal", principal, per_principal))
    if per_ip:
        keys.append(SlotKey("ip", ip_key(client_ip), per_ip))
    return keys


_ACQUIRE = """
local now, token, expiry, ttl = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if not redis.call('ZSCORE', key, token) and redis.call('ZCARD', key) >= tonumber(ARGV[4 + i]) then
    return i
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, expiry, token)
  redis.call('PEXPIRE', key, ttl)
end
return 0
"""


class RedisUploadSlots:
    def __init__(self, client: redis.asyncio.Redis, namespace: str) -> None:
        self._client = client
        self._prefix = f"{namespace}:uploads:concurrent"
        self._acquire = client.register_script(_ACQUIRE)

    def _name(self, key: SlotKey) -> str:
        return f"{self._prefix}:{key.kind}:{key.key}"

    async def acquire(self, keys: Sequence[SlotKey], token: str, now: float) -> SlotKey | None:
        if not keys:
            return None
        try:
            over = int(await self._acquire(keys=[self._name(k) for k in keys],
                                           args=[now, token, now + LEASE_S, int(LEASE_S * 2000),
                                                 *(k.cap for k in keys)]))
        except (redis.RedisError, OSError) as exc:
            raise StoreUnavailable(f"upload slots: {exc}") from exc
        return keys[over - 1] if over else None

    async def renew(self, keys: Sequence[SlotKey], token: str, now: float) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for k in keys:
                    pipe.zadd(self._name(k), {token: now + LEASE_S}, xx=True)
                    pipe.pexpire(self._name(k), int(LEASE_S * 2000))
                await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise StoreUnavailable(f"upload slots: {exc}") from exc

    async def release(self, keys: Sequence[SlotKey], token: str) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for k in keys:
                    pipe.zrem(self._name(k), token)
                await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise StoreUnavailable(f"upload slots: {exc}") from exc


class MemoryUploadSlots:
    """The same contract in one process (thread-safe; the lock also serves the sync ``held`` used by tests)."""

    def __init__(self) -> None:
        self._leases: dict[tuple[str, str], dict[str, float]] = {}
        self._lock = threading.Lock()

    async def acquire(self, keys: Sequence[SlotKey], token: str, now: float) -> SlotKey | None:
        with self._lock:
            for k in keys:
                held = self._leases.setdefault((k.kind, k.key), {})
                for t in [t for t, expiry in held.items() if expiry <= now]:
                    del held[t]
                if token not in held and len(held) >= k.cap:
                    return k
            for k in keys:
                self._leases[(k.kind, k.key)][token] = now + LEASE_S
            return None

    async def renew(self, keys: Sequence[SlotKey], token: str, now: float) -> None:
        with self._lock:
            for k in keys:
                held = self._leases.get((k.kind, k.key), {})
                if token in held:
                    held[token] = now + LEASE_S

    async def release(self, keys: Sequence[SlotKey], token: str) -> None:
        with self._lock:
            for k in keys:
                self._leases.get((k.kind, k.key), {}).pop(token, None)

    def held(self, kind: str, key: str) -> int:
        with self._lock:
            return len(self._leases.get((kind, key), {}))


@dataclass
class Held:
    """The slots one request holds: released when the request ends, renewed while it streams."""

    keys: list[SlotKey]
    token: str


async def take(fd: Frontdoor, principal: str, client_ip: str) -> Held | ApiError:
    """Take this request's slots, or the 429 that refuses it (nothing taken then)."""
    s = fd.settings
    held = Held(slot_keys(principal, client_ip, s.max_uploads_per_principal, s.max_uploads_per_ip),
                uuid.uuid4().hex)  # never a client-chosen id: a shared token would share one slot
    over = await fd.slots.acquire(held.keys, held.token, fd.clock())
    if over is not None:
        if fd.metrics is not None:
            fd.metrics.ratelimit_rejected(f"concurrent_{over.kind}", degraded=False)
        return too_many_uploads(over.kind, over.cap)
    return held


async def give_back(fd: Frontdoor, held: Held | None) -> None:
    """Release ``held`` (None: nothing). A failure is logged: the lease expires by itself within LEASE_S."""
    if held is None or not held.keys:
        return
    try:
        await fd.slots.release(held.keys, held.token)
    except StoreUnavailable:
        log.warning("upload_slots_release_failed", extra={"fields": {"expiresInS": LEASE_S}})


async def keep(fd: Frontdoor, held: Held | None) -> None:
    """Renew ``held``'s leases (called every RENEW_EVERY_S while the upload streams)."""
    if held is None or not held.keys:
        return
    try:
        await fd.slots.renew(held.keys, held.token, fd.clock())
    except StoreUnavailable:
        log.warning("upload_slots_renew_failed", extra={"fields": {}})
