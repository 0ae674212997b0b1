"""The minimum transfer rate of a request body, as pure arithmetic over an injected clock (no sockets, no I/O).

A client that keeps a connection open while sending almost nothing holds a connection, a job and spool space
for as long as it likes; the idle cut-off alone (FOCALPOINT_INGEST_IDLE_TIMEOUT) never fires for a drip of one
byte every few seconds. :class:`RateWindow` says when a body arrives slower than ``min_bytes_per_s`` averaged
over ``window_s``.

Contract (``t`` is the window's own clock, see *pauses*):

- No verdict before one whole window has passed since the start: every client gets ``window_s`` to get going.
- Bytes are counted in ``buckets`` buckets of ``window_s / buckets`` seconds. At ``t`` the counted span is the
  current bucket plus the ``buckets`` before it, so it covers the last ``window_s`` and at most one bucket more.
  Hence: a client that delivered at least ``min_bytes_per_s * window_s`` bytes in ``(t - window_s, t]`` is never
  too slow; one that delivered fewer than that in ``(t - window_s - bucket, t]`` always is. Memory is bounded by
  the bucket count, whatever the number of reads.
- *Pauses*: while the server itself keeps the client waiting (our disk write, our space check), the client
  cannot send. :meth:`pause`/:meth:`resume` (nestable) stop the window's clock for that time, so our slowness is
  never blamed on the client.
- ``min_bytes_per_s == 0`` turns the check off.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable


class RateWindow:
    def __init__(self, min_bytes_per_s: int, window_s: float, clock: Callable[[], float], buckets: int = 30) -> None:
        if window_s <= 0 or buckets < 1 or min_bytes_per_s < 0:
            raise ValueError("window_s > 0, buckets >= 1 and min_bytes_per_s >= 0 are required")
        self.min_bytes_per_s = min_bytes_per_s
        self.window_s = window_s
        self._clock = clock
        self._buckets = buckets
        self._bucket_s = window_s / buckets
        self._paused_total = 0.0
        self._paused_at: float | None = None
        self._pause_depth = 0
        self._start = self.now()
        self._counts: deque[list[int]] = deque()  # [bucket index, bytes], oldest first

    def now(self) -> float:
        """The window's clock: the injected clock minus every paused stretch."""
        t = self._clock()
        paused = self._paused_total + (t - self._paused_at if self._paused_at is not None else 0.0)
        return t - paused

    def pause(self) -> None:
        """The server keeps the client waiting from now on (until the matching :meth:`resume`)."""
        if self._pause_depth == 0:
            self._paused_at = self._clock()
        self._pause_depth += 1

    def resume(self) -> None:
        if self._pause_depth == 0:
            raise RuntimeError("resume() without pause()")
        self._pause_depth -= 1
        if self._pause_depth == 0 and self._paused_at is not None:
            self._paused_total += self._clock() - self._paused_at
            self._paused_at = None

    def record(self, nbytes: int) -> None:
        """Count ``nbytes`` that arrived now."""
        if nbytes <= 0:
            return
        index = self._index(self.now())
        if self._counts and self._counts[-1][0] == index:
            self._counts[-1][1] += nbytes
        else:
            self._counts.append([index, nbytes])
        self._prune(index)

    def recent_bytes(self) -> int:
        """Bytes in the counted span (the current bucket and the ``buckets`` before it)."""
        index = self._index(self.now())
        self._prune(index)
        return sum(n for _, n in self._counts)

    def too_slow(self) -> bool:
        """True when a whole window has passed and the counted span holds less than rate x window bytes."""
        if self.min_bytes_per_s == 0:
            return False
        if self.now() - self._start < self.window_s:
            return False
        return self.recent_bytes() < self.min_bytes_per_s * self.window_s

    def _index(self, t: float) -> int:
        return math.floor(t / self._bucket_s)

    def _prune(self, index: int) -> None:
        oldest = index - self._buckets
        while self._counts and self._counts[0][0] < oldest:
            self._counts.popleft()
