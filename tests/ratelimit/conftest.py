"""Helpers for the ratelimit tests: a memory limiter whose time is a FakeClock, and a Redis one per namespace."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from unittest import mock

import limits.storage.memory
from hypothesis import HealthCheck, settings

from focalpoint_upload.ratelimit import RateLimiter
from tests.conftest import FakeClock

# Modest example counts: the whole package must run in a few seconds. Function-scoped fixtures (redis_url,
# namespace) are safe under @given here because every example uses keys of its own.
# RATELIMIT_EXAMPLES=2000 runs a deeper search by hand.
_SCALE = int(os.environ.get("RATELIMIT_EXAMPLES", "0"))
FAST = settings(max_examples=_SCALE or 40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
REDIS = settings(max_examples=_SCALE or 20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@contextmanager
def memory_limiter(clock: FakeClock | None = None) -> Iterator[tuple[RateLimiter, FakeClock]]:
    """A limiter on ``memory://`` where both ``limits``' memory storage and our arithmetic read ``clock``.

    ``limits.storage.memory`` reads time through its module-level ``time.time()``; patching that module's ``time``
    moves its windows without sleeping (the patch covers its expiry timer thread too).
    """
    clock = clock or FakeClock()
    with mock.patch.object(limits.storage.memory, "time", SimpleNamespace(time=clock)):
        limiter = RateLimiter("memory://", "fptest", clock)
        try:
            yield limiter, clock
        finally:
            limiter.close()
