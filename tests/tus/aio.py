"""Run a coroutine factory to its end on a fresh event loop in its own thread (see tests/helpers/aio.py)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from tests.helpers.aio import run_coro


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    run_coro(scenario())
