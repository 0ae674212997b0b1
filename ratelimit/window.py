"""The sliding-window-counter arithmetic, on one snapshot of a key as ``limits`` stores it.

``limits`` keeps two counters per key: the current window's and the previous window's. The count that is
limited is the *weighted* count ``previous * previous_ttl / expiry + current``, where ``previous_ttl`` is the
time left in the current window (so the previous window's weight falls linearly from 1 to 0), and a hit is
allowed while ``floor(weighted) + 1 <= limit``. This module answers "how many are left" and "how long until the
weighted count drops below a level" from a snapshot, with no I/O and no clock: callers add their own ``now``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

# Rounding guard for the float arithmetic: waits are computed a hair long rather than a hair short, so that
# "retry after N seconds" is never answered by another denial because 29.9999999 was floored to 29.
EPSILON = 1e-6


@dataclass(frozen=True)
class Window:
    """One key's counters, as returned by ``limits``' ``get_sliding_window`` (all durations in seconds).

    ``previous_ttl`` is the time left in the current window when ``previous_count > 0`` (0 otherwise);
    ``current_ttl`` is the time until the current counter expires, i.e. time left in the current window plus
    ``expiry`` (0 when the counter does not exist yet on Redis).
    """

    expiry: int
    previous_count: int
    previous_ttl: float
    current_count: int
    current_ttl: float

    @property
    def weighted(self) -> float:
        """The approximated number of hits in the last ``expiry`` seconds."""
        return self.previous_count * self.previous_ttl / self.expiry + self.current_count

    @property
    def used(self) -> int:
        """The weighted count as ``limits`` compares it with the limit (floored)."""
        return math.floor(self.weighted)

    def remaining(self, limit: int) -> int:
        """Hits that would be allowed now, one after the other; never negative."""
        return max(0, limit - self.used)

    def allows(self, limit: int) -> bool:
        """Whether one more hit is allowed now (the test ``limits`` applies before it counts a hit)."""
        return self.used + 1 <= limit

    def after_hit(self) -> Window:
        """The snapshot once one hit has been counted in the current window.

        A current counter that has expired (``current_ttl <= expiry``) starts a new window of ``2 * expiry``.
        """
        ttl = self.current_ttl if self.current_ttl > self.expiry else 2.0 * self.expiry
        return dataclasses.replace(self, current_count=self.current_count + 1, current_ttl=ttl)

    def seconds_until_below(self, level: int) -> float:
        """Seconds from the snapshot until the weighted count is below ``level`` (>= 1), with no more hits.

        The weighted count falls linearly while the previous window decays, then, once the current window rolls
        over, the current count decays as the new previous one; 0.0 when it is already below ``level``.
        """
        if level < 1:
            raise ValueError("level must be at least 1")
        weighted = self.weighted
        if weighted < level:
            return 0.0
        if self.current_count < level:
            # weighted >= level > current implies previous_count > 0: crossing within the current window.
            return (weighted - level) * self.expiry / self.previous_count
        left_in_window = max(0.0, self.current_ttl - self.expiry)
        return left_in_window + self.expiry * (1.0 - level / self.current_count)

    def seconds_until_freed(self) -> float:
        """Seconds until ``used`` drops by at least one (capacity is freed); 0.0 when nothing is used."""
        used = self.used
        return self.seconds_until_below(used) if used > 0 else 0.0


def whole_seconds(delay: float) -> int:
    """A wait in whole seconds that is strictly longer than ``delay`` (0 for no wait at all).

    Strictly longer because the count must drop *below* the level: waiting exactly ``delay`` lands on it.
    """
    if delay <= 0.0:
        return 0
    return math.floor(delay + EPSILON) + 1
