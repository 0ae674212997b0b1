from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.service import RunningService, service_settings


@pytest.fixture
def make_service(tmp_path: Path, redis_url: str, namespace: str) -> Iterator[Any]:
    running: list[RunningService] = []

    def make(**overrides: Any) -> RunningService:
        svc = RunningService(service_settings(tmp_path, redis_url, namespace, **overrides))
        running.append(svc)
        return svc

    yield make
    for svc in running:
        svc.stop()


@pytest.fixture
def service(make_service: Any) -> RunningService:
    return make_service()
