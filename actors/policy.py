"""Retry and polling arithmetic of the Gemini leg: pure functions, the random source passed in.

- Transient Gemini failures back off exponentially with full jitter, never sooner than the server asked
  (``Retry-After`` / ``RetryInfo``), and at most ``budget`` times in a row without progress.
- PROCESSING files are polled from 1 s rising to 30 s, with jitter, until the job's deadline.
"""

from __future__ import annotations

import random
from collections.abc import Callable

RETRY_BASE_S = 2.0
RETRY_CAP_S = 120.0
POLL_FIRST_S = 1.0
POLL_CAP_S = 30.0

Uniform = Callable[[float, float], float]


def retry_delay(failures: int, retry_after: float | None = None, uniform: Uniform = random.uniform) -> float:
    """Seconds to wait after the ``failures``-th transient failure in a row (1, 2, ...).

    Full jitter over ``[0, min(cap, base * 2**(failures-1))]``, raised to at least 0.5 s (never a hot loop) and
    to at least ``retry_after`` when the server named one.
    """
    ceiling = min(RETRY_CAP_S, RETRY_BASE_S * 2.0 ** max(0, failures - 1))
    delay = max(0.5, uniform(0.0, ceiling))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def poll_delay(polls: int, uniform: Uniform = random.uniform) -> float:
    """Seconds before the next ``files.get`` of a PROCESSING file, after ``polls`` polls so far (0, 1, ...).

    Grows 1, 2, 4, ... up to 30 s; jitter of +-20 % spreads the polls of many jobs apart.
    """
    nominal = min(POLL_CAP_S, POLL_FIRST_S * 2.0 ** max(0, polls))
    return max(0.2, nominal * uniform(0.8, 1.2))


def budget_spent(failures: int, budget: int) -> bool:
    """True once ``failures`` in a row (without progress) exceed the job's budget."""
    return failures > budget


def exhausted_message(attempts: int, last_error: str | None) -> str:
    """What a client reads when a job failed for a spent retry budget (``attempts`` runs, the last one
    finding the budget spent); without a transient error on record, the runs stopped without progress."""
    why = "" if last_error else " The upload stopped repeatedly without progress."
    return f"Gemini could not be reached after {attempts - 1} tries; retry the job later.{why}"
