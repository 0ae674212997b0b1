"""The Gemini storage budget (``jobs.storage``) in ``/metrics``, read at scrape time (one GET).

``focalpoint_gemini_storage_budget_bytes`` is GEMINI_STORAGE_BUDGET; ``focalpoint_gemini_storage_used_bytes``
the bytes counted against it (live Gemini files plus uploads in flight); their ratio says how close jobs are
to waiting. Jobs that began to wait are counted by ``focalpoint_gemini_storage_waits_total`` (``Metrics``).
``focalpoint_gemini_storage_error`` is 1 when the budget could not be read (the other series are then left
out; the rest of the scrape still succeeds). Every worker process exposes the same fleet-wide numbers:
aggregate with ``max``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from focalpoint_upload.jobs.storage import StorageBudget


class StorageBudgetCollector(Collector):
    def __init__(self, budget: StorageBudget) -> None:
        self._budget = budget

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families(None)  # no Redis call at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            used: int | None = self._budget.used()
        except Exception:
            used = None
        families = self._families(used)
        if used is None:
            families[-1].add_metric([], 1.0)
            yield families[-1]
            return
        yield from families

    def _families(self, used: int | None) -> list[GaugeMetricFamily]:
        limit = GaugeMetricFamily("focalpoint_gemini_storage_budget_bytes",
                                  "The Gemini storage budget (GEMINI_STORAGE_BUDGET).")
        counted = GaugeMetricFamily("focalpoint_gemini_storage_used_bytes", "Bytes counted against the Gemini "
                                    "storage budget: live Gemini files plus uploads in flight.")
        error = GaugeMetricFamily("focalpoint_gemini_storage_error", "1 when the storage budget could not be read.")
        if used is not None:
            limit.add_metric([], float(self._budget.budget))
            counted.add_metric([], float(used))
            error.add_metric([], 0.0)
        return [limit, counted, error]
