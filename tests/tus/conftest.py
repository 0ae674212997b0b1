"""Fixtures for the tus interop tests: tus-js-client installed from tests/tus/package-lock.json (``npm ci``, so a
clean checkout in CI gets the same client), a runner for tests/tus/client.mjs, and the e2e pipeline."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.e2e.conftest import make_pipeline

__all__ = ["make_pipeline"]
HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def tus_js() -> Iterator[Any]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        require("node and npm are needed for the tus-js-client interop tests")
    assert node is not None and npm is not None
    if not (HERE / "node_modules" / "tus-js-client" / "package.json").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True,
                       timeout=300)

    class Runner:
        def __call__(self, timeout: float = 120, **opts: Any) -> list[dict[str, Any]]:
            return run(timeout, **opts)

        def start(self, **opts: Any) -> subprocess.Popen[str]:
            """A client process left running (the test ends it)."""
            proc = subprocess.Popen([node, str(HERE / "client.mjs"), json.dumps(opts)], cwd=HERE, text=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started.append(proc)
            return proc

    started: list[subprocess.Popen[str]] = []

    def run(timeout: float = 120, **opts: Any) -> list[dict[str, Any]]:
        """Run one tus-js-client process to its end (success, error or its own SIGKILL); its events."""
        done = subprocess.run([node, str(HERE / "client.mjs"), json.dumps(opts)], cwd=HERE, capture_output=True,
                              text=True, timeout=timeout)
        events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        assert events, f"no output from the client: rc={done.returncode} stderr={done.stderr[-2000:]}"
        return events

    yield Runner()
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
