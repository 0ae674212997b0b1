"""The minimum-rate window as pure arithmetic: an injected clock, no sockets (frontdoor.transfer_rate)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from focalpoint_upload.frontdoor.transfer_rate import RateWindow
from tests.conftest import FakeClock

KiB = 1024


def window(clock: FakeClock, rate: int = 16 * KiB, window_s: float = 30.0, buckets: int = 30) -> RateWindow:
    return RateWindow(rate, window_s, clock, buckets=buckets)


def test_no_verdict_before_one_whole_window(clock: FakeClock) -> None:
    w = window(clock)
    clock.advance(29.9)
    assert not w.too_slow()  # nothing sent yet, but every client gets one window to get going
    clock.advance(0.2)
    assert w.too_slow()


def test_a_drip_of_one_byte_every_five_seconds_is_too_slow(clock: FakeClock) -> None:
    w = window(clock)
    for _ in range(7):
        w.record(1)
        clock.advance(5)
    assert w.too_slow()


def test_a_steady_client_at_the_minimum_is_never_cut(clock: FakeClock) -> None:
    w = window(clock)
    for _ in range(600):  # ten minutes, 16 KiB every second
        w.record(16 * KiB)
        clock.advance(1)
        assert not w.too_slow()


def test_a_fast_start_then_silence_is_cut_once_the_burst_leaves_the_window(clock: FakeClock) -> None:
    w = window(clock)
    w.record(100 * 1024 * KiB)
    clock.advance(30.5)
    assert not w.too_slow()  # the burst is still in the counted span
    clock.advance(31)
    assert w.too_slow()


def test_time_we_keep_the_client_waiting_is_not_counted(clock: FakeClock) -> None:
    w = window(clock)
    w.record(480 * KiB)  # exactly rate x window
    w.pause()
    clock.advance(300)  # our disk stalls for five minutes
    assert not w.too_slow()
    w.resume()
    clock.advance(29)
    assert not w.too_slow()
    w.pause()
    w.pause()  # nested: a space check inside a write wait
    clock.advance(100)
    w.resume()
    assert not w.too_slow()
    w.resume()
    clock.advance(3)
    assert w.too_slow()


def test_rate_zero_is_off_and_bad_arguments_are_refused(clock: FakeClock) -> None:
    w = window(clock, rate=0)
    clock.advance(10_000)
    assert not w.too_slow()
    with pytest.raises(ValueError):
        RateWindow(1, 0, clock)
    with pytest.raises(RuntimeError):
        window(clock).resume()


def test_memory_is_bounded_by_the_bucket_count(clock: FakeClock) -> None:
    w = window(clock, buckets=10)
    for _ in range(10_000):
        w.record(1)
        clock.advance(0.01)
    assert len(w._counts) <= 11


# Arrivals: (seconds since the previous event, bytes). Times are multiples of 1/8 s and buckets are 1 s, so the
# float arithmetic is exact and the property is about the window, not rounding.
arrivals = st.lists(st.tuples(st.integers(0, 80).map(lambda n: n / 8), st.integers(0, 64 * KiB)), max_size=60)


@given(arrivals, st.integers(0, 400).map(lambda n: n / 8), st.integers(1, 32 * KiB))
def test_the_verdict_is_bounded_by_the_exact_window_and_one_bucket_more(
        events: list[tuple[float, int]], tail: float, rate: int) -> None:
    clock = FakeClock(start=1000.0)
    window_s, buckets = 30.0, 30
    w = RateWindow(rate, window_s, clock, buckets=buckets)
    start = clock.now
    seen: list[tuple[float, int]] = []
    for gap, n in [*events, (tail, 0)]:
        clock.advance(gap)
        w.record(n)
        seen.append((clock.now, n))
        t = clock.now
        verdict = w.too_slow()
        need = rate * window_s
        if t - start < window_s:
            assert not verdict
            continue
        exact = sum(n for at, n in seen if t - window_s < at <= t)
        wider = sum(n for at, n in seen if t - window_s - window_s / buckets < at <= t)
        if exact >= need:
            assert not verdict  # enough in the last window: never cut
        if wider < need:
            assert verdict  # too little even in the widest span counted: always cut
