"""Policy parsing, storage URIs, header rendering and the window arithmetic on their own."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from focalpoint_upload.ratelimit import (
    ConfigurationError,
    Decision,
    Policy,
    RateLimiter,
    RateLimitError,
    render,
    storage_uri,
)
from focalpoint_upload.ratelimit.window import Window, whole_seconds
from tests.ratelimit.conftest import FAST


@pytest.mark.parametrize(("rate", "limit", "window"), [
    ("60/minute", 60, 60), ("2 per minute", 2, 60), ("30/hour", 30, 3600), ("5/10 seconds", 5, 10)])
def test_policy_parses_one_rate(rate: str, limit: int, window: int) -> None:
    policy = Policy("status", rate)
    assert (policy.limit, policy.window) == (limit, window)


@pytest.mark.parametrize(("name", "rate"), [
    ("status", "lots"), ("status", "1/second;10/minute"), ("status", "0/minute"), ("Status", "1/minute"),
    ('st"atus', "1/minute"), ("", "1/minute")])
def test_policy_rejects(name: str, rate: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Policy(name, rate)
    assert isinstance(info.value, RateLimitError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(("url", "uri"), [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("rediss://:pw@redis.example:6380/2", "rediss://:pw@redis.example:6380/2"),
    ("unix:///var/run/redis.sock", "redis+unix:///var/run/redis.sock"),
    ("unix:///tmp/r.sock?db=3", "redis+unix:///tmp/r.sock?db=3"),
    (" memory:// ", "memory://"),
])
def test_storage_uri(url: str, uri: str) -> None:
    assert storage_uri(url) == uri


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "memcached://x", "127.0.0.1:6379"])
def test_storage_uri_rejects(url: str) -> None:
    with pytest.raises(ConfigurationError):
        storage_uri(url)


@pytest.mark.parametrize(("uri", "namespace"), [("memcached://127.0.0.1:11211", "ns"), ("memory://", ""),
                                                ("memory://", "a{b}")])
def test_limiter_rejects_bad_configuration(uri: str, namespace: str) -> None:
    with pytest.raises(ConfigurationError):
        RateLimiter(uri, namespace)


def test_limiter_needs_a_key() -> None:
    with pytest.raises(ConfigurationError):
        RateLimiter("memory://", "ns").hit(Policy("status", "1/minute"))


def test_render_allowed_and_denied() -> None:
    allowed = Decision(allowed=True, policy="status", limit=60, window=60, remaining=12, reset=0.0,
                       reset_after=30, retry_after=0)
    assert render(allowed) == {"RateLimit-Policy": '"status";q=60;w=60', "RateLimit": '"status";r=12;t=30'}
    denied = Decision(allowed=False, policy="ingest", limit=2, window=60, remaining=0, reset=0.0,
                      reset_after=17, retry_after=17)
    assert render(denied) == {"RateLimit-Policy": '"ingest";q=2;w=60', "RateLimit": '"ingest";r=0;t=17',
                              "Retry-After": "17"}


@pytest.mark.parametrize("fields", [
    {"allowed": False, "remaining": 0, "reset_after": 0, "retry_after": 0},
    {"allowed": False, "remaining": 1, "reset_after": 3, "retry_after": 3},
    {"allowed": True, "remaining": -1, "reset_after": 0, "retry_after": 0},
    {"allowed": True, "remaining": 1, "reset_after": 0, "retry_after": 2},
])
def test_decision_invariants(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Decision(policy="status", limit=2, window=60, reset=0.0, **fields)  # type: ignore[arg-type]


def weighted_at(w: Window, dt: float) -> float:
    """The weighted count ``dt`` seconds after the snapshot, with no further hits (the reference curve)."""
    left = max(0.0, w.current_ttl - w.expiry)
    if dt <= left:
        return w.previous_count * (w.previous_ttl - dt) / w.expiry + w.current_count
    return w.current_count * max(0.0, 1 - (dt - left) / w.expiry)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    expiry = draw(st.sampled_from([10, 60, 3600]))
    left = draw(st.floats(0.001, expiry))
    previous = draw(st.integers(0, 20))
    return Window(expiry, previous, left if previous else 0.0, draw(st.integers(0, 20)), left + expiry)


@FAST
@given(w=windows(), level=st.integers(1, 25))
def test_seconds_until_below_is_the_crossing(w: Window, level: int) -> None:
    delay = w.seconds_until_below(level)
    assert delay >= 0
    assert weighted_at(w, delay + 1e-6) < level + 1e-9
    if delay > 1e-6:
        assert weighted_at(w, delay - 1e-6) >= level - 1e-9
    wait = whole_seconds(delay)
    assert wait == 0 if delay == 0 else wait > delay


@FAST
@given(w=windows(), limit=st.integers(1, 25))
def test_remaining_and_allows_agree(w: Window, limit: int) -> None:
    assert w.remaining(limit) == max(0, limit - math.floor(w.weighted))
    assert w.allows(limit) == (w.remaining(limit) > 0)
    assert w.after_hit().current_count == w.current_count + 1
