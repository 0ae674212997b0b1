"""The whole way, no stand-ins: the page in Chromium, the front door, the Dramatiq workers in-process and the
Gemini emulator (gemini.emulator.EmulatorServer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from focalpoint_upload.gemini.emulator import EmulatorConfig, EmulatorServer
from focalpoint_upload.jobs import State
from tests.page.kit import FakeLeg, choose_and_upload, open_page, poke, stage_status, stored, wait_for, wait_stage

MIB = 1024 * 1024


@pytest.fixture
def emulator() -> Iterator[Any]:
    server = EmulatorServer(config=EmulatorConfig(processing_delay_s=2.0, granularity=8 * MIB))
    yield server
    server.stop()


@pytest.fixture
def gemini_service(make_service: Any, emulator: Any) -> Any:
    return make_service(with_workers=True, gemini_base_url=emulator.base_url, gemini_api_key=emulator.api_key,
                        gemini_chunk_bytes=16 * MIB)


def test_full_flow_to_ready(browser_context: Any, gemini_service: Any, emulator: Any, access_log: Any,
                            video_file: Any, shots: Any) -> None:
    page = open_page(browser_context, gemini_service)
    choose_and_upload(page, video_file(100 * MIB))
    wait_stage(page, "send", "done", timeout=30_000)
    rec = stored(page)
    assert rec is not None
    wait_stage(page, "process", "active", timeout=60_000)
    shots(page, "gemini-processing")
    page.wait_for_selector("#result.ok", timeout=60_000)
    uri = page.inner_text("#result-uri")
    assert uri.startswith(emulator.base_url) or "/files/" in uri
    assert stage_status(page, "gemini") == "done" and stage_status(page, "process") == "done"
    assert stored(page) is None
    page.wait_for_function("document.getAnimations().length === 0")  # the bars' transitions have ended
    shots(page, "gemini-ready")
    assert len(access_log.creations()) == 1 and access_log.posts() == []
    assert len(access_log.patches(rec["jobId"])) > 1  # in pieces
    assert FakeLeg(gemini_service).get(rec["jobId"]).state is State.ACTIVE
    assert page.errors == []


def test_full_flow_processing_fails(browser_context: Any, gemini_service: Any, emulator: Any,
                                    video_file: Any, shots: Any) -> None:
    emulator.emulator.add_fault("processing_failed", message="Video codec not supported.", error_code=400)
    page = open_page(browser_context, gemini_service)
    choose_and_upload(page, video_file(8 * MIB))
    page.wait_for_selector("#result.bad", timeout=60_000)
    assert page.inner_text("#result-title") == "Failed"
    assert page.inner_text("#result-text")  # the server's error.message, whatever the leg words it as
    assert page.inner_text("#result-advice")
    shots(page, "gemini-failed")
    assert stored(page) is None


def test_full_flow_refresh_while_processing(browser_context: Any, make_service: Any, video_file: Any) -> None:
    with EmulatorServer(config=EmulatorConfig(processing_delay_s=4.0)) as server:
        svc = make_service(with_workers=True, gemini_base_url=server.base_url, gemini_api_key=server.api_key)
        page = open_page(browser_context, svc)
        choose_and_upload(page, video_file(8 * MIB))
        wait_stage(page, "process", "active", timeout=60_000)
        page.reload()
        page.wait_for_selector("#resume:visible")
        page.click("#resume-yes")
        wait_for(lambda: stage_status(page, "process") in {"active", "done"}, what="processing shown", page=page)

        def ready() -> bool:
            poke(page)  # skip the backoff of an unchanged PROCESSING document
            return page.is_visible("#result.ok")

        wait_for(ready, timeout=60, what="Ready after resuming", page=page)
        assert stored(page) is None
