"""The in-memory twin of :class:`jobs.outbox.Outbox` (the webhook outbox), for unit tests.

Same rules, checked by ``tests/jobs/test_outbox_contract.py`` against both: one event per first final state
(and per expiry of an ACTIVE job's file), recorded with the change that made it (as the hook of
:class:`jobs.memory.MemoryJobStore`, whose batch applies it with the change); due events oldest first; a claim
moves the due time only from the score the claimer saw.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from focalpoint_upload.jobs.memory import MemoryBatch
from focalpoint_upload.jobs.outbox import OutboxEvent, event_body, event_type, new_event_id
from focalpoint_upload.jobs.record import Job


class MemoryOutbox:
    """:class:`~jobs.outbox.EventOutbox` in dicts. Thread-safe (one lock); undelivered events are kept."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._events: dict[str, OutboxEvent] = {}
        self._due: dict[str, float] = {}

    def on_transition(self, pipe: Any, old: Job, new: Job) -> None:
        kind = event_type(old, new)
        if kind is not None:
            self.record(pipe, kind, new)

    def record(self, pipe: Any, kind: str, job: Job) -> str:
        """Record an event (with the change, when ``pipe`` is the store's :class:`MemoryBatch`)."""
        event_id, now = new_event_id(), self._clock()
        event = OutboxEvent(event_id=event_id, job_id=job.job_id, body=event_body(kind, job, now), created=now,
                            attempts=0)

        def put() -> None:
            with self._lock:
                self._events[event_id] = event
                self._due[event_id] = now

        if isinstance(pipe, MemoryBatch):
            pipe.add(put)
        else:
            put()
        return event_id

    def due(self, now: float, limit: int = 100) -> list[tuple[str, float]]:
        with self._lock:
            rows = sorted((score, event_id) for event_id, score in self._due.items() if score <= now)
        return [(event_id, score) for score, event_id in rows[:limit]]

    def claim(self, event_id: str, seen_score: float, until: float) -> bool:
        with self._lock:
            if self._due.get(event_id) != seen_score:
                return False
            self._due[event_id] = until
            return True

    def load(self, event_id: str) -> OutboxEvent | None:
        with self._lock:
            return self._events.get(event_id)

    def retry_at(self, event_id: str, attempts: int, at: float) -> None:
        with self._lock:
            event = self._events.get(event_id)
            if event is not None:
                self._events[event_id] = OutboxEvent(event.event_id, event.job_id, event.body, event.created,
                                                     attempts)
            self._due[event_id] = at

    def done(self, event_id: str) -> None:
        with self._lock:
            self._due.pop(event_id, None)
            self._events.pop(event_id, None)

    def pending(self) -> int:
        with self._lock:
            return len(self._due)
