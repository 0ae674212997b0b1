"""A Gemini leg on in-memory twins only: no Redis, no HTTP, no threads, a clock moved by hand.

:class:`LegKit` builds the real :class:`actors.leg.Leg` over ``MemoryJobStore`` (with the storage budget as its
hook, as in production), ``MemoryStorageBudget``, ``MemoryGemini``, ``MemoryScheduler``, ``MemorySlots``,
``MemoryLeases`` and ``MemoryAlerts``. The settings point at a Redis nobody listens on, and
:func:`no_redis` makes any connection attempt fail the test, so these tests prove the leg needs no Redis.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from focalpoint_upload.actors.leg import Leg
from focalpoint_upload.actors.slots import MemorySlots
from focalpoint_upload.actors.twins import MemoryAlerts, MemoryGemini, MemoryScheduler, Message
from focalpoint_upload.jobs import Event, Job, State, new_job_id
from focalpoint_upload.jobs.lease import MemoryLeases
from focalpoint_upload.jobs.memory import MemoryJobStore
from focalpoint_upload.jobs.memory_storage import MemoryStorageBudget
from tests.conftest import FakeClock
from tests.helpers.service import service_settings

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def no_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any Redis connection attempt in the test is a failure (the settings also name an unreachable Redis)."""
    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a leg unit test tried to connect to Redis")

    monkeypatch.setattr(redis.connection.AbstractConnection, "connect", refuse)
    monkeypatch.setattr(redis.connection.AbstractConnection, "connect_check_health", refuse)
    yield


class LegKit:
    def __init__(self, tmp_path: Path, *, budget: int = 10**9, slots: int = 4, **settings: Any) -> None:
        self.clock = FakeClock()
        self.now_mono = 0.0
        self.spool = tmp_path / "spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        self.settings = service_settings(tmp_path, UNREACHABLE_REDIS, "legtest", **settings)
        self.budget = MemoryStorageBudget(budget)
        self.store = MemoryJobStore(self.clock, on_transition=self.budget.on_transition)
        self.gemini = MemoryGemini()
        self.scheduler = MemoryScheduler()
        self.slots = MemorySlots(slots)
        self.leases = MemoryLeases(30.0, self.clock)
        self.alerts = MemoryAlerts()
        self.leg = Leg(settings=self.settings, store=self.store, uploader=self.gemini, files=self.gemini,
                       schedule=self.scheduler, slots=self.slots, lease=self.leases, alerts=self.alerts,
                       clock=self.clock, slice_s=60.0, uniform=lambda a, b: a, monotonic=lambda: self.now_mono,
                       storage=self.budget)
        self.ran: list[Message] = []

    def spooled(self, size: int = 10, seed: int = 1) -> Job:
        """A job whose body is on disk (SPOOLED), with the first upload message sent as the front door does."""
        job_id = new_job_id()
        data = random.Random(seed).randbytes(size)
        path = self.spool / job_id
        path.write_bytes(data)
        job = Job(job_id=job_id, attempt_id=new_job_id(), state=State.SPOOLING, created_at=self.clock(),
                  updated_at=self.clock(), spool_path=str(path), mime_type="video/mp4", file_name="clip.mp4")
        self.store.claim(job)
        done = self.store.transition(job_id, Event.SPOOL_COMPLETE, bytes_total=size, bytes_received=size,
                                     sha256=hashlib.sha256(data).hexdigest())
        self.scheduler.upload(job_id, done.msg_gen)
        return done

    def step(self) -> Message | None:
        """Deliver the oldest message, once its delay has passed on the clock; None when none is left."""
        message = self.scheduler.take()
        if message is None:
            return None
        self.clock.advance(message.delay_s)
        self.ran.append(message)
        if message.kind == "upload":
            self.leg.upload(message.job_id, message.gen)
        elif message.kind == "stream":
            self.leg.stream(message.job_id, message.gen)
        else:
            self.leg.poll(message.job_id, message.gen)
        return message

    def run(self, limit: int = 100) -> list[Message]:
        """Deliver messages until none is left (at most ``limit``); returns those delivered."""
        before = len(self.ran)
        for _ in range(limit):
            if self.step() is None:
                return self.ran[before:]
        raise AssertionError(f"still sending messages after {limit}: {self.scheduler.sent[:5]}")

    def job(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        assert job is not None
        return job
