"""Waiting for something another thread or process does (never for time itself to pass).

:func:`wait_for` is the one polling wait of the suite; helpers that wait on their own objects (a process's
log, an emulator's faults) are built on it. Where a condition variable or an event exists, wait on that
instead (``tests.helpers.webhook_receiver``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, what: str = "condition", *,
             interval: float = 0.02, pause: Callable[[float], None] = time.sleep,
             detail: Callable[[], str] | None = None) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that; fail after ``timeout`` s.

    ``pause`` is how to let the other side run between polls (Playwright's ``page.wait_for_timeout`` when the
    predicate reads Playwright events, which are delivered only while Playwright runs). ``detail`` adds to the
    failure message (e.g. the tail of a log). ``predicate`` may raise to end the wait early (a process died).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f":\n{detail()}" if detail is not None else ""
            raise AssertionError(f"{what} not met within {timeout} s{extra}")
        pause(interval)
