"""``admit`` on its own: given the request's headers and principal and the front door's in-memory ports (no
handler, no HTTP, no Redis), it returns a decision value."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httputil import HTTPHeaders

from focalpoint_upload.frontdoor import Frontdoor
from focalpoint_upload.frontdoor.admission import Admitted, Ask, Known, Refused, admit
from focalpoint_upload.frontdoor.auth import Principal
from focalpoint_upload.frontdoor.upload_slots import MemoryUploadSlots
from focalpoint_upload.jobs import State
from focalpoint_upload.jobs.astore import AsyncMemoryJobStore
from tests.conftest import FakeClock
from tests.helpers.service import service_settings

ATTEMPT = "att-admit-0001"


class NoDispatch:
    def job_spooled(self, job_id: str, gen: int) -> None: ...

    def job_streaming(self, job_id: str, gen: int) -> None: ...

    def job_cancelled(self, job_id: str) -> None: ...


@pytest.fixture
def fd(tmp_path: Path) -> Iterator[Frontdoor]:
    clock = FakeClock()
    settings = service_settings(tmp_path, None, "fptest-admit", max_uploads_per_ip=1)
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    door = Frontdoor(settings=settings, store=AsyncMemoryJobStore(clock), dispatcher=NoDispatch(), clock=clock,
                     slots=MemoryUploadSlots())
    yield door
    door.shutdown()


def ask(fd: Frontdoor, **headers: str) -> Ask:
    base = {"X-Attempt-Id": ATTEMPT, "Content-Type": "video/mp4", "X-File-Name": "a.mp4", "Content-Length": "10"}
    return Ask(HTTPHeaders({**base, **headers}), Principal("anonymous"), "10.0.0.1", "req-1",
               fd.settings.max_upload_bytes)


def run(coro: Any) -> Any:
    return asyncio.run(coro)  # a fresh loop: tests may leave one running on the main thread (Playwright)


def test_a_new_attempt_is_admitted_with_a_spooling_job_and_its_slots(fd: Frontdoor) -> None:
    decision = run(admit(ask(fd), fd))
    assert isinstance(decision, Admitted)
    assert decision.job.state is State.SPOOLING and decision.job.attempt_id == ATTEMPT
    assert decision.job.bytes_total == 10 and decision.parser.media_type == "video/mp4"
    assert decision.slots.keys  # the caller's to give back


def test_a_second_request_of_a_streaming_attempt_is_known_and_holds_no_slot(fd: Frontdoor) -> None:
    first = run(admit(ask(fd), fd))
    second = run(admit(ask(fd), fd))
    assert isinstance(first, Admitted) and isinstance(second, Known)
    assert second.job.job_id == first.job.job_id and second.replay is None  # 409 while it streams


def test_the_concurrent_cap_refuses_a_second_attempt_while_the_first_holds_its_slot(fd: Frontdoor) -> None:
    assert isinstance(run(admit(ask(fd), fd)), Admitted)
    other = run(admit(ask(fd, **{"X-Attempt-Id": "att-admit-0002"}), fd))
    assert isinstance(other, Refused) and other.error.status == 429 and not other.at_once


@pytest.mark.parametrize(("headers", "status", "at_once"), [
    ({"X-Attempt-Id": "bad"}, 400, False),
    ({"Content-Length": "0"}, 400, False),
    ({"Content-Type": "application/x-msdownload"}, 415, False),
    ({"Content-Length": str(1 << 50)}, 413, True),
])
def test_refusals_are_values(fd: Frontdoor, headers: dict[str, str], status: int, at_once: bool) -> None:
    decision = run(admit(ask(fd, **headers), fd))
    assert isinstance(decision, Refused) and (decision.error.status, decision.at_once) == (status, at_once)


def test_a_door_that_is_shutting_down_refuses_with_503(fd: Frontdoor) -> None:
    fd.accepting = False
    decision = run(admit(ask(fd), fd))
    assert isinstance(decision, Refused) and decision.error.status == 503
