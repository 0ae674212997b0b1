"""The Gemini storage budget: bytes of live Gemini files plus uploads in flight, kept in Redis.

The interface is :class:`StorageBudget`; :class:`RedisStorageBudget` is the adapter and
``jobs.memory_storage.MemoryStorageBudget`` its in-memory twin.

Gemini keeps at most 20 GB of files per project. Before an upload starts, the leg :meth:`reserve`\\ s the job's
bytes; the reservation lives as long as the job may have a Gemini file, and is :meth:`release`\\ d once it cannot
(FAILED, CANCELLED -- in the job store's own MULTI, see :meth:`on_transition` -- or after the file was deleted:
EXPIRED, DELETED, by ``actors.storage``).

Keys under the namespace: ``gemini:held`` (hash job id -> bytes), ``gemini:used`` (their sum) and
``gemini:expiry`` (sorted set of ACTIVE jobs' ids scored by when their file is to be treated as gone).

Both scripts are atomic and idempotent under at-least-once delivery: a job's bytes are counted once however
often it reserves, and released once however often it releases (the hash is the record of what is counted).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, Protocol, cast

import redis

from focalpoint_upload.config import Settings
from focalpoint_upload.jobs.machine import State
from focalpoint_upload.jobs.record import Job

log = logging.getLogger("focalpoint.storage")

# KEYS: held, used. ARGV: job id, bytes, budget. 1: counted (now or before); 0: it would cross the budget.
# A job alone may go whatever its size (nothing else held): otherwise one file above the budget waits forever.
_RESERVE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local n = tonumber(ARGV[2])
if used > 0 and used + n > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], n)
redis.call('INCRBY', KEYS[2], n)
return 1
"""

# KEYS: held, used, expiry. ARGV: job id. Returns the bytes released (0 if none were held).
_RELEASE = """
redis.call('ZREM', KEYS[3], ARGV[1])
local n = redis.call('HGET', KEYS[1], ARGV[1])
if not n then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DECRBY', KEYS[2], n)
return tonumber(n)
"""

GEMINI_FILE_LIFE_S = 48 * 3600.0  # what Gemini keeps a file, when its expirationTime is not known


class StorageBudget(Protocol):
    """The budget as the actors and the job store's hook use it: :class:`RedisStorageBudget` in production,
    :class:`MemoryStorageBudget` in unit tests (the contract suite runs both)."""

    @property
    def budget(self) -> int:
        """The budget in bytes (GEMINI_STORAGE_BUDGET)."""

    def reserve(self, job_id: str, size: int) -> bool:
        """Count ``size`` bytes for ``job_id`` unless that would cross the budget; True if counted (also when
        they were counted already). A job alone may go whatever its size."""

    def release(self, job_id: str, pipe: Any = None) -> None:
        """Stop counting ``job_id``'s bytes (on ``pipe``, the job store's transaction, if given); idempotent."""

    def used(self) -> int: ...

    def held(self) -> dict[str, int]: ...

    def expiring(self, now: float) -> list[str]:
        """ACTIVE jobs whose file's time is up."""

    def expires_at(self, job_id: str) -> float | None: ...

    def file_end(self, job: Job, now: float) -> float: ...

    def on_transition(self, pipe: Any, old: Job, new: Job) -> None:
        """The job store's hook (in its transaction); see :meth:`RedisStorageBudget.on_transition`."""


class RedisStorageBudget:
    """The budget on Redis. ``budget`` in bytes; ``file_ttl_s`` > 0 ends files earlier than Gemini does."""

    def __init__(self, client: redis.Redis, namespace: str, budget: int, file_ttl_s: float = 0.0) -> None:
        self._r = client
        self._budget = budget
        self._ttl = file_ttl_s
        self._held = f"{namespace}:gemini:held"
        self._used = f"{namespace}:gemini:used"
        self._expiry = f"{namespace}:gemini:expiry"

    @property
    def budget(self) -> int:
        return self._budget

    def reserve(self, job_id: str, size: int) -> bool:
        return bool(self._r.eval(_RESERVE, 2, self._held, self._used, job_id, str(max(0, size)),
                                 str(self._budget)))

    def release(self, job_id: str, pipe: Any = None) -> None:
        (pipe if pipe is not None else self._r).eval(_RELEASE, 3, self._held, self._used, self._expiry, job_id)

    def used(self) -> int:
        return int(cast(bytes | None, self._r.get(self._used)) or 0)

    def held(self) -> dict[str, int]:
        raw = cast(dict[bytes, bytes], self._r.hgetall(self._held))
        return {k.decode(): int(v) for k, v in raw.items()}

    def expiring(self, now: float) -> list[str]:
        return [m.decode() for m in cast(list[bytes], self._r.zrangebyscore(self._expiry, "-inf", now))]

    def expires_at(self, job_id: str) -> float | None:
        return cast(float | None, self._r.zscore(self._expiry, job_id))

    def file_end(self, job: Job, now: float) -> float:
        return file_end(job, now, self._ttl)

    def on_transition(self, pipe: Any, old: Job, new: Job) -> None:
        """The job store's hook (in its MULTI): a job that can no longer get a file releases its bytes at once;
        a job that became ACTIVE is entered for expiry. EXPIRED and DELETED release after their file is deleted
        (``actors.storage``), so the space is never counted free while the file still exists."""
        if frees_at_once(old, new):
            self.release(new.job_id, pipe)
        elif starts_file_life(old, new):
            pipe.zadd(self._expiry, {new.job_id: self.file_end(new, new.updated_at)})


def file_end(job: Job, now: float, ttl_s: float) -> float:
    """When ``job``'s file is to be treated as gone: Gemini's expirationTime, or ``ttl_s`` (> 0) after now if
    that is earlier."""
    end = _parse_time(job.gemini_expires_at) or now + GEMINI_FILE_LIFE_S
    return min(end, now + ttl_s) if ttl_s > 0 else end


def frees_at_once(old: Job, new: Job) -> bool:
    """The job can no longer get a Gemini file: its bytes are released with the change."""
    return new.state in (State.FAILED, State.CANCELLED) and old.state != new.state


def starts_file_life(old: Job, new: Job) -> bool:
    """The job's file became ACTIVE: its end is entered for expiry with the change."""
    return new.state == State.ACTIVE and old.state != State.ACTIVE


def storage_budget(settings: Settings, client: redis.Redis) -> RedisStorageBudget:
    return RedisStorageBudget(client, settings.redis_namespace, settings.gemini_storage_budget_bytes,
                         settings.gemini_file_ttl_s)


def _parse_time(text: str | None) -> float | None:
    """RFC 3339 (Gemini's ``expirationTime``, nanoseconds and ``Z`` included) -> epoch seconds, or None."""
    m = _RFC3339.match(text or "")
    if m is None:
        if text:
            log.warning("bad_expiration_time", extra={"fields": {"value": text}})
        return None
    zone = m.group(3) if m.group(3) not in (None, "Z", "z") else "+00:00"
    return datetime.fromisoformat(m.group(1) + zone).timestamp() + float("0" + (m.group(2) or ".0"))


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|z|[+-]\d\d:\d\d)?$")
