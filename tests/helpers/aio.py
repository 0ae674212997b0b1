"""Run a coroutine to its end on a fresh event loop in a thread of its own.

Why not ``asyncio.run`` in the test: the page tests' Playwright (sync API, session-scoped) leaves an event loop
running in the main thread, and ``asyncio.run`` refuses to start under a running loop. Any test that runs after
the page tests (tests/ratelimit, tests/security, tests/tus ...) and any test that may be reordered must use this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_coro(coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
    """The result of ``coro``, run by ``asyncio.run`` in a worker thread (its exception is raised here)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout)
