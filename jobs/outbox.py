"""The webhook outbox: final job states recorded in Redis in the same transaction that made them final.

Why an outbox: a final state is reached in many places (the front door, the actors, the sweeper, a crashed
message's handler) and a process may die right after its compare-and-set. :meth:`Outbox.record` is called by
``RedisJobStore`` *inside* that compare-and-set's MULTI, so a job can never become final without its event
being stored. Delivery (``actors.webhooks``) then works from here, at least once, until a 2xx or a 410.

Keys under the namespace: ``webhook:event:{id}`` (hash: ``body`` -- the exact JSON sent, ``job_id``,
``created``, ``attempts``), expiring a day after the retry window as a safety net; ``webhook:due`` (sorted set
of event ids scored by when the next attempt is due).

Event types come from :data:`EVENT_TYPES` by the job's new state; another kind of final moment (an ACTIVE
job's file expiring) records its own type with :meth:`Outbox.record` (e.g. ``"upload.expired"``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import redis

from focalpoint_upload.jobs.machine import State, is_final
from focalpoint_upload.jobs.record import Job, iso

# Compare-and-set of one member's score, atomically and without WATCHing the whole set.
_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""

EXPIRED_EVENT = "upload.expired"
EVENT_TYPES: dict[State, str] = {
    State.ACTIVE: "upload.active",
    State.FAILED: "upload.failed",
    State.CANCELLED: "upload.cancelled",
}


@dataclass(frozen=True)
class OutboxEvent:
    event_id: str
    job_id: str
    body: str  # the JSON text that is signed and sent, the same on every attempt
    created: float
    attempts: int  # attempts that failed so far


def new_event_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def event_body(event_type: str, job: Job, now: float) -> str:
    """The JSON text sent (and signed) for ``job``'s event, the same on every attempt."""
    return json.dumps({"type": event_type, "timestamp": iso(now), "data": job.public()}, separators=(",", ":"))


def event_type(old: Job, new: Job) -> str | None:
    """The event a change from ``old`` to ``new`` records: the first final state's type, ``upload.expired``
    when an ACTIVE job's file expires, else None (a DELETE is the client's own act: no event)."""
    if is_final(new.state) and not is_final(old.state):
        return EVENT_TYPES[new.state]
    if new.state == State.EXPIRED and old.state == State.ACTIVE:
        return EXPIRED_EVENT
    return None


class EventOutbox(Protocol):
    """The outbox as the job store's hook and the webhook delivery use it: :class:`Outbox` (Redis) or
    ``jobs.memory_outbox.MemoryOutbox`` (its in-memory twin)."""

    def on_transition(self, pipe: Any, old: Job, new: Job) -> None: ...

    def due(self, now: float, limit: int = 100) -> list[tuple[str, float]]: ...

    def claim(self, event_id: str, seen_score: float, until: float) -> bool: ...

    def load(self, event_id: str) -> OutboxEvent | None: ...

    def retry_at(self, event_id: str, attempts: int, at: float) -> None: ...

    def done(self, event_id: str) -> None: ...

    def pending(self) -> int: ...


class Outbox:
    """The outbox on Redis. ``keep_s`` is how long an undelivered event is kept at most (retry window + 1 day)."""

    def __init__(self, client: redis.Redis, namespace: str, clock: Callable[[], float], keep_s: float) -> None:
        self._r = client
        self._ns = namespace
        self._clock = clock
        self._keep = max(1, int(keep_s))

    def _key(self, event_id: str) -> str:
        return f"{self._ns}:webhook:event:{event_id}"

    @property
    def _due_key(self) -> str:
        return f"{self._ns}:webhook:due"

    # --- recording (inside the job store's transaction) ------------------------------------------------------
    def on_transition(self, pipe: Any, old: Job, new: Job) -> None:
        """The job store's hook: record an event when ``new`` is the first final state after ``old``, and
        ``upload.expired`` when an ACTIVE job's file expires (a DELETE is the client's own act: no event)."""
        kind = event_type(old, new)
        if kind is not None:
            self.record(pipe, kind, new)

    def record(self, pipe: Any, event_type: str, job: Job) -> str:
        """Queue the event on ``pipe`` (a redis pipeline in MULTI, or the client itself); returns its id."""
        event_id = new_event_id()
        now = self._clock()
        body = event_body(event_type, job, now)
        pipe.hset(self._key(event_id), mapping={"body": body, "job_id": job.job_id, "created": repr(now),
                                                "attempts": "0"})
        pipe.expire(self._key(event_id), self._keep)
        pipe.zadd(self._due_key, {event_id: now})
        return event_id

    # --- delivery --------------------------------------------------------------------------------------------
    def due(self, now: float, limit: int = 100) -> list[tuple[str, float]]:
        """Events whose next attempt is due, oldest first, with their scores (for :meth:`claim`)."""
        rows = cast(list[tuple[bytes, float]], self._r.zrangebyscore(
            self._due_key, "-inf", now, start=0, num=limit, withscores=True))
        return [(k.decode(), score) for k, score in rows]

    def claim(self, event_id: str, seen_score: float, until: float) -> bool:
        """Move the event's due time to ``until`` if it is still ``seen_score``: one process sends it now, and
        if that send is lost (a killed worker) the event is due again at ``until``."""
        return bool(self._r.eval(_CLAIM, 1, self._due_key, event_id, repr(seen_score), repr(until)))

    def load(self, event_id: str) -> OutboxEvent | None:
        raw = cast(dict[bytes, bytes], self._r.hgetall(self._key(event_id)))
        if not raw or b"body" not in raw:
            return None
        return OutboxEvent(event_id=event_id, job_id=raw.get(b"job_id", b"").decode(), body=raw[b"body"].decode(),
                           created=float(raw.get(b"created", b"0")), attempts=int(raw.get(b"attempts", b"0")))

    def retry_at(self, event_id: str, attempts: int, at: float) -> None:
        """Record a failed attempt and when to try next."""
        with self._r.pipeline() as pipe:
            pipe.hset(self._key(event_id), "attempts", str(attempts))
            pipe.zadd(self._due_key, {event_id: at})
            pipe.execute()

    def done(self, event_id: str) -> None:
        """Delivered, refused for good (410), or given up: forget the event."""
        with self._r.pipeline() as pipe:
            pipe.zrem(self._due_key, event_id)
            pipe.delete(self._key(event_id))
            pipe.execute()

    def pending(self) -> int:
        return int(cast(int, self._r.zcard(self._due_key)))
