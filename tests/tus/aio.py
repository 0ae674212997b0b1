"""Run a coroutine to its end on a fresh event loop in its own thread (whatever loop this thread has: the page
tests' Playwright leaves one running in the main thread)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(scenario())).result(120)
