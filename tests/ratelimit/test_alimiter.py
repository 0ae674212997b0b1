"""The async limiter: the same decisions as the sync one, and ``hit_then`` runs the work only when allowed."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import limits.aio.storage.memory
import pytest
from hypothesis import given
from hypothesis import strategies as st

from focalpoint_upload.ratelimit import Policy, RateLimiter
from focalpoint_upload.ratelimit.alimiter import AsyncRateLimiter
from tests.conftest import FakeClock
from tests.helpers.aio import run_coro
from tests.ratelimit.conftest import FAST, REDIS, memory_limiter

POLICY = Policy("status", "3/minute")


@FAST
@given(st.lists(st.tuples(st.integers(0, 90), st.integers(0, 1)), max_size=30))
def test_the_async_limiter_decides_as_the_sync_one(steps: list[tuple[int, int]]) -> None:
    clock = FakeClock()
    with memory_limiter(clock) as (sync, _), \
            mock.patch.object(limits.aio.storage.memory, "time", SimpleNamespace(time=clock)):
        async def run() -> None:
            limiter = AsyncRateLimiter("memory://", "fptest", clock)
            for wait, key in steps:
                clock.advance(wait)
                assert await limiter.hit(POLICY, f"k{key}") == sync.hit(POLICY, f"k{key}")

        run_coro(run())


def test_hit_then_runs_the_work_only_for_an_allowed_request() -> None:
    ran: list[int] = []

    async def work() -> int:
        ran.append(1)
        return len(ran)

    async def run() -> None:
        limiter = AsyncRateLimiter("memory://", "fptest", FakeClock())
        answers = [await limiter.hit_then(POLICY, ("a",), work) for _ in range(5)]
        assert [(d.allowed, r) for d, r in answers] == [(True, 1), (True, 2), (True, 3), (False, None), (False, None)]

        async def broken() -> None:
            raise LookupError("the store failed")

        with pytest.raises(LookupError):
            await limiter.hit_then(POLICY, ("b",), broken)

    run_coro(run())


def test_an_unreachable_redis_answers_the_policy_default_and_runs_the_work_when_open() -> None:
    async def run() -> None:
        limiter = AsyncRateLimiter("redis://127.0.0.1:1/0", "fptest", FakeClock(), timeout=0.2)
        opened, result = await limiter.hit_then(Policy("status", "3/minute", fail_open=True), ("a",), _one)
        assert opened.degraded and opened.allowed and result == 1
        closed, result = await limiter.hit_then(Policy("uploads", "3/minute"), ("a",), _one)
        assert closed.degraded and not closed.allowed and result is None
        await limiter.close()

    run_coro(run())


@REDIS
@given(st.integers(1, 6))
def test_on_redis_both_faces_count_in_the_same_keys(redis_url: str, namespace: str, hits: int) -> None:
    sync = RateLimiter(redis_url, namespace)
    key = f"k{hits}-{id(sync)}"

    async def run() -> None:
        limiter = AsyncRateLimiter(redis_url, namespace)
        for _ in range(hits):
            await limiter.hit(POLICY, key)
        assert (await limiter.peek(POLICY, key)).remaining == sync.peek(POLICY, key).remaining == max(0, 3 - hits)
        await limiter.close()

    run_coro(run())
    sync.close()


async def _one() -> int:
    return 1
