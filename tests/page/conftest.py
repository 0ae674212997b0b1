"""The browser page in a real headless Chromium (Debian's ``chromium``) driven by Playwright, against the real
service in-process.

Chromium is ``$CHROMIUM_PATH`` or ``/usr/bin/chromium``; without it (or without Playwright) the tests fail in CI
and skip elsewhere. Screenshots go to ``$FOCALPOINT_SCREENSHOTS`` when set, else to the test's tmp_path.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
MIB = 1024 * 1024


def chromium_path() -> str | None:
    given = os.environ.get("CHROMIUM_PATH")
    if given:
        return given if os.access(given, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("Playwright for Python is not installed (pip install playwright)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def chromium(playwright_driver: Any) -> str:
    path = chromium_path()
    if path is None:
        require("no Chromium (apt-get install chromium, or set CHROMIUM_PATH)")
    assert path is not None
    return path


@pytest.fixture
def browser_context(playwright_driver: Any, chromium: str, tmp_path: Path) -> Iterator[Any]:
    """A fresh profile per test (so localStorage and Web Locks start empty); its pages share both."""
    ctx = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 900, "height": 720})
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


class AccessLog(logging.Handler):
    """The front door's structured access lines (logger ``focalpoint.access``), as their ``fields``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            self.lines.append(dict(fields))

    def creations(self) -> list[dict[str, Any]]:
        """``POST /api/uploads``: the page's resumable uploads, one per attempt."""
        return [f for f in self.lines if f.get("method") == "POST" and f.get("path") == "/api/uploads"]

    def patches(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """The PATCHes of one resumable upload (or of all), in the order they ended."""
        return [f for f in self.lines if f.get("method") == "PATCH"
                and (job_id is None or f.get("jobId") == job_id)]

    def posts(self, attempt_id: str | None = None) -> list[dict[str, Any]]:
        return [f for f in self.lines if f.get("method") == "POST" and f.get("path") == "/api/upload"
                and (attempt_id is None or f.get("attemptId") == attempt_id)]


@pytest.fixture
def access_log() -> Iterator[AccessLog]:
    logger = logging.getLogger("focalpoint.access")
    handler = AccessLog()
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
def shots(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``shots(page, "stage")`` saves a PNG of the page, named after the test."""
    root = os.environ.get("FOCALPOINT_SCREENSHOTS")
    folder = Path(root) if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = folder / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path))
        return path

    return take


@pytest.fixture
def video_file(tmp_path: Path) -> Callable[[int, str], Path]:
    """``video_file(size, name)``: a file of ``size`` bytes (1 MiB of random bytes, repeated)."""

    def make(size: int, name: str = "clip.mp4") -> Path:
        path = tmp_path / name
        block = os.urandom(MIB)
        with path.open("wb") as fh:
            left = size
            while left > 0:
                fh.write(block[: min(MIB, left)])
                left -= MIB
        return path

    return make
