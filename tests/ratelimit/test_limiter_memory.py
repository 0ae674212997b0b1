"""The limiter on the memory storage with time under control: exact sliding-window-counter behaviour."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from focalpoint_upload.ratelimit import Decision, Policy, render_headers
from tests.ratelimit.conftest import FAST, memory_limiter

WINDOW = 60
# Steps: (seconds to advance, in half seconds so float arithmetic stays exact; operation; which key).
steps = st.lists(
    st.tuples(st.integers(0, 4 * WINDOW).map(lambda n: n / 2), st.sampled_from(["hit", "peek"]), st.integers(0, 2)),
    max_size=40,
)


def model_weighted(counts: Counter[tuple[int, int]], key: int, now: float) -> float:
    """The sliding-window counter as ``limits`` defines it for the epoch-aligned memory storage."""
    current = int(now / WINDOW)
    previous = counts[(key, current - 1)]
    previous_ttl = (1 - (((now - WINDOW) / WINDOW) % 1)) * WINDOW if previous else 0.0
    return previous * previous_ttl / WINDOW + counts[(key, current)]


def check_headers(decision: Decision) -> None:
    headers = render_headers(decision)
    assert decision.remaining >= 0
    assert headers["RateLimit-Policy"] == f'"{decision.policy}";q={decision.limit};w={decision.window}'
    assert headers["RateLimit"] == f'"{decision.policy}";r={decision.remaining};t={decision.reset_after}'
    if decision.allowed:
        assert "Retry-After" not in headers and decision.retry_after == 0
    else:
        assert int(headers["Retry-After"]) == decision.retry_after > 0
        assert decision.reset_after == decision.retry_after and decision.remaining == 0


@FAST
@given(limit=st.integers(1, 5), script=steps)
def test_hits_follow_the_sliding_window_counter_model(limit: int, script: list[tuple[float, str, int]]) -> None:
    policy = Policy("status", f"{limit}/minute")
    counts: Counter[tuple[int, int]] = Counter()
    allowed_at: list[tuple[int, float]] = []
    with memory_limiter() as (limiter, clock):
        for advance, op, key in script:
            clock.advance(advance)
            expected_allowed = math.floor(model_weighted(counts, key, clock.now)) + 1 <= limit
            decision = (limiter.hit if op == "hit" else limiter.peek)(policy, f"k{key}")
            assert decision.allowed == expected_allowed
            assert not decision.degraded
            check_headers(decision)
            if op == "hit" and decision.allowed:
                counts[(key, int(clock.now / WINDOW))] += 1
                allowed_at.append((key, clock.now))
            after = model_weighted(counts, key, clock.now)
            assert decision.remaining == max(0, limit - math.floor(after))
    # Never more than N allowed inside one window of the counter; so never more than 2N in any 60 s.
    assert all(n <= limit for n in counts.values())
    for key, start in allowed_at:
        inside = [t for k, t in allowed_at if k == key and start <= t < start + WINDOW]
        assert len(inside) <= 2 * limit


@FAST
@given(limit=st.integers(1, 6), burst=st.integers(0, 15), offset=st.integers(0, 2 * WINDOW - 1))
def test_a_burst_allows_exactly_min_k_n(limit: int, burst: int, offset: int) -> None:
    policy = Policy("ingest", f"{limit}/minute")
    with memory_limiter() as (limiter, clock):
        clock.advance(offset / 2)
        decisions = [limiter.hit(policy, "attempt") for _ in range(burst)]
    assert sum(d.allowed for d in decisions) == min(burst, limit)
    assert [d.allowed for d in decisions] == sorted((d.allowed for d in decisions), reverse=True)
    assert [d.remaining for d in decisions if d.allowed] == list(range(limit - 1, limit - 1 - min(burst, limit), -1))


@FAST
@given(limit=st.integers(1, 4), before=steps, other=st.integers(0, 2))
def test_retry_after_is_exact_and_sufficient(limit: int, before: list[tuple[float, str, int]], other: int) -> None:
    """After a denial, a hit is allowed again at retry_after seconds, and (whole seconds) not a second sooner."""
    policy = Policy("uploads", f"{limit}/minute")
    with memory_limiter() as (limiter, clock):
        for advance, op, key in before:
            clock.advance(advance)
            (limiter.hit if op == "hit" else limiter.peek)(policy, f"k{key}")
        denial = None
        for _ in range(limit + 1):
            decision = limiter.hit(policy, f"k{other}")
            if not decision.allowed:
                denial = decision
                break
        assert denial is not None
        delay = denial.reset - clock.now
        assert 0 <= delay < denial.retry_after <= 2 * WINDOW + 1
        near_whole = abs(delay - round(delay)) < 1e-3
        if denial.retry_after > 1 and not near_whole:
            clock.advance(denial.retry_after - 1)
            assert not limiter.peek(policy, f"k{other}").allowed
            clock.advance(1)
        else:
            clock.advance(denial.retry_after)
        assert limiter.peek(policy, f"k{other}").allowed
        assert limiter.hit(policy, f"k{other}").allowed


@FAST
@given(limit=st.integers(1, 4), hits=st.lists(st.integers(0, 3), max_size=20))
def test_keys_are_isolated(limit: int, hits: list[int]) -> None:
    policy = Policy("status", f"{limit}/hour")
    with memory_limiter() as (limiter, _):
        results = [(key, limiter.hit(policy, f"ip{key}").allowed) for key in hits]
    for key in set(hits):
        mine = [allowed for k, allowed in results if k == key]
        assert mine == [i < limit for i in range(len(mine))]


def test_key_parts_cannot_collide_or_inject() -> None:
    policy = Policy("ingest", "1/minute")
    with memory_limiter() as (limiter, _):
        assert limiter.hit(policy, "a/b").allowed
        assert not limiter.hit(policy, "a/b").allowed
        assert limiter.hit(policy, "a", "b").allowed  # "/" is escaped: a different key
        long_id = "x" * 5000
        assert limiter.hit(policy, long_id).allowed
        assert not limiter.hit(policy, long_id).allowed
        assert limiter.hit(policy, long_id + "y").allowed  # hashed, still distinct


def test_policies_on_one_key_are_isolated() -> None:
    with memory_limiter() as (limiter, _):
        assert limiter.hit(Policy("status", "1/minute"), "1.2.3.4").allowed
        assert limiter.hit(Policy("uploads", "1/minute"), "1.2.3.4").allowed
        assert not limiter.hit(Policy("status", "1/minute"), "1.2.3.4").allowed


def test_reset_forgets_a_key() -> None:
    policy = Policy("status", "1/minute")
    with memory_limiter() as (limiter, _):
        limiter.hit(policy, "k")
        assert not limiter.peek(policy, "k").allowed
        limiter.reset(policy, "k")
        assert limiter.peek(policy, "k").remaining == 1


def test_fresh_key_reads_as_a_full_quota() -> None:
    with memory_limiter() as (limiter, clock):
        decision = limiter.peek(Policy("status", "60/minute"), "k")
    assert decision == Decision(allowed=True, policy="status", limit=60, window=60, remaining=60,
                                reset=clock.now, reset_after=0, retry_after=0)
    assert render_headers(decision) == {"RateLimit-Policy": '"status";q=60;w=60', "RateLimit": '"status";r=60;t=0'}
