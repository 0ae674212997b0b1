from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from focalpoint_upload.gemini.emulator import EmulatorServer
from tests.helpers.service import RunningService, service_settings


@pytest.fixture
def make_pipeline(tmp_path: Path, redis_url: str, namespace: str, emulator: EmulatorServer) -> Iterator[Any]:
    """The whole service (front door + in-process Dramatiq workers) on the test Redis, sending to the emulator."""
    running: list[RunningService] = []

    def make(**overrides: Any) -> RunningService:
        settings = service_settings(tmp_path, redis_url, namespace, gemini_base_url=emulator.base_url,
                                 gemini_api_key=emulator.api_key, gemini_chunk_bytes=1024 * 1024, **overrides)
        svc = RunningService(settings, with_workers=True)
        running.append(svc)
        return svc

    yield make
    for svc in running:
        svc.stop()

