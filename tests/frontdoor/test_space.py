"""Spool space: the look-ahead a running upload holds, the space check, the readiness pressure probe."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from focalpoint_upload.config import load_settings
from focalpoint_upload.frontdoor.space import (
    FIRST_STEP,
    headroom,
    next_reserved_until,
    outstanding,
    pressure_check,
    space_problem,
)
from focalpoint_upload.frontdoor.spool import free_bytes

MiB = 1024 * 1024


@given(st.integers(0, 4 * 1024 * MiB), st.one_of(st.none(), st.integers(0, 4 * 1024 * MiB)),
       st.integers(0, 64 * MiB))
def test_the_look_ahead_grows_with_what_arrived_and_stays_bounded(received: int, declared: int | None,
                                                                  lookahead: int) -> None:
    until = next_reserved_until(received, declared, lookahead)
    ahead = until - received
    assert ahead >= 0
    assert ahead <= max(lookahead, FIRST_STEP)  # one client never holds more than the bounded look-ahead
    assert ahead <= max(received, FIRST_STEP)  # ...nor more than it has already sent (a drip holds ~nothing)
    if declared is not None:
        assert until <= max(declared, received)  # never past the declared total


def test_a_drip_holds_one_first_step_and_a_steady_upload_the_full_look_ahead() -> None:
    assert next_reserved_until(0, 2 * 1024 * MiB, 8 * MiB) == FIRST_STEP
    assert next_reserved_until(1, None, 8 * MiB) == 1 + FIRST_STEP
    assert next_reserved_until(100 * MiB, None, 8 * MiB) == 108 * MiB
    assert next_reserved_until(3 * MiB, 4 * MiB, 8 * MiB) == 4 * MiB


class Holder:
    def __init__(self, n: int) -> None:
        self.n = n

    def bytes_still_expected(self) -> int:
        return self.n


def test_outstanding_sums_everyone_but_the_asker() -> None:
    a, b = Holder(5), Holder(7)
    assert outstanding({a, b}) == 12
    assert outstanding({a, b}, exclude=a) == 7


def test_space_check_and_pressure_probe(tmp_path: Path) -> None:
    s = load_settings({"FOCALPOINT_DATA_DIR": str(tmp_path), "FOCALPOINT_MIN_FREE_SPACE": "1MiB",
                       "FOCALPOINT_SPOOL_CAP": "10MiB", "FOCALPOINT_SPOOL_READY_HEADROOM": "4MiB"})
    s.spool_dir.mkdir(parents=True)
    (s.spool_dir / "job.part").write_bytes(b"x" * (3 * MiB))
    assert headroom(s, 2 * MiB) == 5 * MiB
    assert space_problem(s, 5 * MiB, 2 * MiB) is None
    assert space_problem(s, 5 * MiB + 1, 2 * MiB) == "The spool directory is full; try again later."
    assert pressure_check(s, lambda: 2 * MiB)() is None
    reason = pressure_check(s, lambda: 3 * MiB + 1)()
    assert reason is not None and reason.startswith("spool volume under pressure: 4194303 bytes left")
    tight = s.replace(spool_cap_bytes=0, min_free_bytes=free_bytes(s.spool_dir))
    assert "too full" in (space_problem(tight, 1 * MiB, 0) or "")
    assert pressure_check(tight, lambda: 0)() is not None
