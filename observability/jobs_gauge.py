"""Jobs by state, read from the job store's Redis keys at scrape time (bounded cost).

The store keeps non-final job ids in the sorted set ``{ns}:open`` scored by their last update, and each job
in the hash ``{ns}:job:{id}`` (field ``state``). :func:`count_open_jobs` reads at most ``limit`` of them, the
least recently updated first, in three round trips (ZCARD, ZRANGE, one pipeline of HGETs). Final states
(ACTIVE, FAILED, CANCELLED) are not in ``open`` and are not counted here: their rates are counters
(``focalpoint_jobs_failed_total``).

Several front doors expose the same fleet-wide numbers: aggregate with ``max``, not ``sum``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import cast

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from focalpoint_upload.jobs.machine import FINAL, State

OPEN_STATES: tuple[str, ...] = tuple(str(s) for s in State if s not in FINAL)
DEFAULT_LIMIT = 5000


@dataclass(frozen=True)
class JobCounts:
    """Non-final jobs by state. ``counted < open_total`` when the count was cut at the limit."""

    by_state: dict[str, int] = field(default_factory=dict)
    open_total: int = 0
    counted: int = 0
    oldest_update: float | None = None  # the smallest ``updated_at`` among open jobs (epoch seconds)

    @property
    def partial(self) -> bool:
        return self.counted < self.open_total


def count_open_jobs(client: redis.Redis, namespace: str, *, limit: int = DEFAULT_LIMIT) -> JobCounts:
    """Count the non-final jobs of ``namespace`` by state (at most ``limit`` jobs read). Blocking; raises
    ``redis.RedisError`` when Redis is unreachable. Ids whose hash has expired count as ``missing``."""
    open_key = f"{namespace}:open"
    total = int(cast(int, client.zcard(open_key)))
    entries = cast(list[tuple[bytes, float]], client.zrange(open_key, 0, max(0, limit - 1), withscores=True))
    by_state = dict.fromkeys(OPEN_STATES, 0)
    if entries:
        pipe = client.pipeline(transaction=False)
        for job_id, _ in entries:
            pipe.hget(f"{namespace}:job:{_text(job_id)}", "state")
        for raw in pipe.execute():
            state = _text(raw) if raw is not None else "missing"
            by_state[state] = by_state.get(state, 0) + 1
    oldest = float(entries[0][1]) if entries else None
    return JobCounts(by_state=by_state, open_total=total, counted=len(entries), oldest_update=oldest)


class JobStateCollector(Collector):
    """A scrape-time collector over ``count`` (e.g. ``lambda: count_open_jobs(client, ns)``).

    Exposes ``focalpoint_jobs{state}``, ``focalpoint_jobs_open``, ``focalpoint_jobs_oldest_update_age_seconds``
    (how long the least recently updated open job has not moved: the sweeper's business once it exceeds the
    stage deadlines), ``focalpoint_jobs_count_partial`` (1 when cut at the limit) and
    ``focalpoint_jobs_count_error`` (1 when ``count`` raised; the other series are then left out, and the
    rest of the scrape still succeeds).
    """

    def __init__(self, count: Callable[[], JobCounts], clock: Callable[[], float]) -> None:
        self._count = count
        self._clock = clock

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families(None)  # no Redis call at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts: JobCounts | None = self._count()
        except Exception:
            counts = None
        families = self._families(counts)
        if counts is None:
            families[-1].add_metric([], 1.0)
            yield families[-1]
            return
        yield from families

    def _families(self, counts: JobCounts | None) -> list[GaugeMetricFamily]:
        by_state = GaugeMetricFamily("focalpoint_jobs", "Non-final jobs by state (from the job store).",
                                     labels=["state"])
        open_total = GaugeMetricFamily("focalpoint_jobs_open", "Non-final jobs in the job store.")
        oldest = GaugeMetricFamily("focalpoint_jobs_oldest_update_age_seconds",
                                   "Seconds since the least recently updated non-final job last changed.")
        partial = GaugeMetricFamily("focalpoint_jobs_count_partial", "1 when the state count was cut at its limit.")
        error = GaugeMetricFamily("focalpoint_jobs_count_error", "1 when the job store could not be read.")
        if counts is not None:
            for state, n in sorted(counts.by_state.items()):
                by_state.add_metric([state], float(n))
            open_total.add_metric([], float(counts.open_total))
            age = max(0.0, self._clock() - counts.oldest_update) if counts.oldest_update is not None else 0.0
            oldest.add_metric([], age)
            partial.add_metric([], 1.0 if counts.partial else 0.0)
            error.add_metric([], 0.0)
        return [by_state, open_total, oldest, partial, error]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
