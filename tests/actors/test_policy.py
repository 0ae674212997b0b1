"""Retry and poll arithmetic, property-tested with the random source pinned to its extremes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from focalpoint_upload.actors.policy import POLL_CAP_S, RETRY_CAP_S, budget_spent, poll_delay, retry_delay


def low(a: float, b: float) -> float:
    return a


def high(a: float, b: float) -> float:
    return b


@given(st.integers(min_value=1, max_value=60), st.none() | st.floats(min_value=0, max_value=600))
def test_retry_delay_is_bounded_and_honours_retry_after(failures: int, retry_after: float | None) -> None:
    for uniform in (low, high):
        d = retry_delay(failures, retry_after, uniform)
        assert d >= 0.5
        assert d <= max(RETRY_CAP_S, retry_after or 0)
        if retry_after is not None:
            assert d >= retry_after


def test_retry_delay_ceiling_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, None, high) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert retry_delay(30, None, high) == RETRY_CAP_S


@given(st.integers(min_value=0, max_value=100))
def test_poll_delay_rises_from_one_second_to_thirty(polls: int) -> None:
    assert 0.8 <= poll_delay(0, low) <= 1.2
    assert poll_delay(polls, low) <= poll_delay(polls + 1, low) or poll_delay(polls, low) == POLL_CAP_S * 0.8
    assert poll_delay(polls, high) <= POLL_CAP_S * 1.2


def test_budget() -> None:
    assert not budget_spent(8, 8)
    assert budget_spent(9, 8)
