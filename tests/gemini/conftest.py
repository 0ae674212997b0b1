"""Fixtures for the Gemini boundary: an in-process emulator with tiny granularity and delays."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from focalpoint_upload.gemini.emulator import EmulatorConfig, EmulatorServer
from tests.conftest import FakeClock

GRANULE = 1024  # tiny chunk granularity so multi-chunk uploads stay a few KiB


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(granularity=GRANULE)


@pytest.fixture
def emulator_clock(clock: FakeClock) -> FakeClock:
    """Processing and expiry move only when the test advances the clock."""
    return clock


@pytest.fixture
def server(emulator: EmulatorServer) -> EmulatorServer:
    """The root ``emulator`` fixture on this directory's configuration and clock."""
    return emulator


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=5) as client:
        yield client


def make_file(directory: Path, size: int, name: str = "clip.mp4", seed: int = 7) -> Path:
    """A file of ``size`` seeded pseudo-random bytes: no repeating pattern, so bytes sent from a wrong
    offset always change the server's sha256."""
    path = directory / name
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def start(http: httpx2.Client, srv: EmulatorServer, size: int, *, version: str = "v1beta",
          body: dict[str, object] | None = None) -> httpx2.Response:
    """A raw resumable start, as the SDK sends it."""
    return http.post(
        f"{srv.base_url}/upload/{version}/files",
        headers={"x-goog-api-key": srv.api_key, "X-Goog-Upload-Protocol": "resumable",
                 "X-Goog-Upload-Command": "start", "X-Goog-Upload-Header-Content-Length": str(size),
                 "X-Goog-Upload-Header-Content-Type": "video/mp4"},
        json=body if body is not None else {"file": {"displayName": "clip"}},
    )


def send(http: httpx2.Client, url: str, command: str, offset: int | None = None, data: bytes = b"") -> httpx2.Response:
    headers = {"X-Goog-Upload-Command": command}
    if offset is not None:
        headers["X-Goog-Upload-Offset"] = str(offset)
    return http.post(url, headers=headers, content=data)
