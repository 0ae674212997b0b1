"""The service's Prometheus metrics on a registry of their own (no global registry, nothing at import).

One :class:`Metrics` per process; the front door and the workers record into it and ``/metrics`` (or the
worker's metrics port) exposes ``metrics.registry``. Label values are bounded: anything outside the known set
is recorded as ``other``, so a bug or a hostile client cannot create series without end.

Requests per attemptId: the counter ``focalpoint_upload_requests_total{status,outcome}`` says how many
requests were repeats, fleet-wide and summable::

    sum(rate(focalpoint_upload_requests_total{outcome=~"replayed|conflict"}[5m]))
      / sum(rate(focalpoint_upload_requests_total{outcome="accepted"}[5m]))

(repeat requests per accepted upload; 0 when every attempt sends one request). There is deliberately no
histogram of requests per attempt: it would need to know when an attempt has seen its last request, which no
process knows (a retry can come hours later, to another front door). The exact per-attempt counts come from
``focalpoint-upload report`` over the request logs (:mod:`observability.report`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

OUTCOMES = frozenset({"accepted", "replayed", "conflict", "refused", "aborted"})
GEMINI_OPS = frozenset({"start", "chunk", "query", "cancel", "get", "delete"})
GEMINI_OUTCOMES = frozenset({"ok", "transient", "permanent", "error"})
ACTOR_OUTCOMES = frozenset({"ok", "error", "skipped"})
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")

DURATION_BUCKETS = (0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)
AFTER_LAST_BYTE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = tuple(float(2**20 * n) for n in (1, 10, 100, 500, 1024, 2048))
ACTOR_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 420.0)


def _one_of(value: str | None, allowed: frozenset[str], missing: str = "none") -> str:
    if value is None or value == "":
        return missing
    return value if value in allowed else "other"


def _name(value: str | None) -> str:
    """A free-form identifier (error code, stage, policy, actor) made safe as a label value."""
    if not value:
        return "none"
    return value.lower() if _NAME.match(value) else "other"


class Metrics:
    """Every metric of the service. Thread-safe (prometheus_client's metrics are)."""

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._monotonic = monotonic
        r = self.registry
        self.upload_requests = Counter(
            "focalpoint_upload_requests", "POST /api/upload requests by answer status and outcome "
            "(accepted, replayed, conflict, refused, aborted).", ["status", "outcome"], registry=r)
        self.upload_received_bytes = Counter(
            "focalpoint_upload_received_bytes", "Request body bytes read by the front door (spooled or drained).",
            registry=r)
        self.upload_file_bytes = Histogram(
            "focalpoint_upload_file_bytes", "Size of accepted (spooled) files.", buckets=SIZE_BUCKETS, registry=r)
        self.upload_duration = Histogram(
            "focalpoint_upload_request_duration_seconds", "From the request's headers to its answer, by outcome.",
            ["outcome"], buckets=DURATION_BUCKETS, registry=r)
        self.upload_after_last_byte = Histogram(
            "focalpoint_upload_response_after_last_byte_seconds",
            "From the last body byte to the answer (the client's wait once it has sent everything), by outcome.",
            ["outcome"], buckets=AFTER_LAST_BYTE_BUCKETS, registry=r)
        self.ratelimit_rejections = Counter(
            "focalpoint_ratelimit_rejections", "Requests refused by a rate-limit policy (kind: limited = 429, "
            "degraded = 503 because the limiter could not reach Redis and the policy fails closed).",
            ["policy", "kind"], registry=r)
        self.stuck_jobs = Counter(
            "focalpoint_stuck_jobs", "Stuck jobs found by the sweeper, by the stage they were stuck in.",
            ["stage"], registry=r)
        self.jobs_failed = Counter(
            "focalpoint_jobs_failed", "Jobs that ended FAILED (alerted), by stage and error code.",
            ["stage", "code"], registry=r)
        self.gemini_calls = Counter(
            "focalpoint_gemini_calls", "Gemini API calls by operation and outcome (ok, transient, permanent, "
            "error: not a Gemini error).", ["op", "outcome"], registry=r)
        self.gemini_call_duration = Histogram(
            "focalpoint_gemini_call_duration_seconds", "Gemini API call duration by operation.", ["op"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0), registry=r)
        self.actor_messages = Counter(
            "focalpoint_actor_messages", "Dramatiq messages processed, by actor and outcome (ok, error, skipped).",
            ["actor", "outcome"], registry=r)
        self.actor_duration = Histogram(
            "focalpoint_actor_message_duration_seconds", "Dramatiq message processing time by actor.", ["actor"],
            buckets=ACTOR_BUCKETS, registry=r)
        self.webhook_deliveries = Counter(
            "focalpoint_webhook_deliveries", "Webhook delivery attempts by outcome (delivered: 2xx; gone: 410, not "
            "sent again; failed: another status or no answer, tried again; dropped: failed past the retry window).",
            ["outcome"], registry=r)
        self.storage_waits = Counter(
            "focalpoint_gemini_storage_waits", "Jobs that began to wait (SPOOLED, waiting: gemini_storage) because "
            "their upload would cross GEMINI_STORAGE_BUDGET.", registry=r)
        self.actor_inprogress = Gauge(
            "focalpoint_actor_messages_inprogress", "Dramatiq messages being processed now, by actor.", ["actor"],
            registry=r)

    # --- front door -----------------------------------------------------------------------------------------
    def upload_request(self, *, status: int, outcome: str | None, bytes_received: int, duration_s: float,
                       after_last_byte_s: float | None, file_bytes: int | None = None) -> None:
        """Record one finished ``POST /api/upload`` (the access line's fields; call once per request)."""
        label = _one_of(outcome, OUTCOMES)
        self.upload_requests.labels(str(int(status)), label).inc()
        self.upload_received_bytes.inc(max(0, bytes_received))
        self.upload_duration.labels(label).observe(max(0.0, duration_s))
        if after_last_byte_s is not None:
            self.upload_after_last_byte.labels(label).observe(max(0.0, after_last_byte_s))
        if label == "accepted" and file_bytes is not None:
            self.upload_file_bytes.observe(file_bytes)

    def access_line(self, fields: Mapping[str, Any]) -> None:
        """:meth:`upload_request` from the fields of ``frontdoor.access``'s ``upload_request`` line
        (status, outcome, bytesReceived, fileBytes, durationMs, msFromLastByte)."""
        after = fields.get("msFromLastByte")
        self.upload_request(
            status=int(fields.get("status") or 0), outcome=fields.get("outcome"),
            bytes_received=int(fields.get("bytesReceived") or 0),
            duration_s=float(fields.get("durationMs") or 0.0) / 1000,
            after_last_byte_s=float(after) / 1000 if isinstance(after, int | float) else None,
            file_bytes=fields.get("fileBytes") if isinstance(fields.get("fileBytes"), int) else None)

    def ratelimit_rejected(self, policy: str, *, degraded: bool = False) -> None:
        """A request refused by ``policy`` (``Decision.policy``; ``degraded``: ``Decision.degraded``)."""
        self.ratelimit_rejections.labels(_name(policy), "degraded" if degraded else "limited").inc()

    # --- jobs -----------------------------------------------------------------------------------------------
    def stuck_job(self, stage: str) -> None:
        """The sweeper found a job stuck in ``stage`` (a State value)."""
        self.stuck_jobs.labels(_name(stage)).inc()

    def job_failed(self, stage: str, code: str) -> None:
        self.jobs_failed.labels(_name(stage), _name(code)).inc()

    def storage_wait(self) -> None:
        """A job began to wait for room in the Gemini storage budget."""
        self.storage_waits.inc()

    def webhook_delivery(self, outcome: str) -> None:
        """One webhook attempt ended: delivered, gone, failed or dropped."""
        self.webhook_deliveries.labels(_name(outcome)).inc()

    def watch(self, collector: Collector) -> None:
        """Register a scrape-time collector (e.g. :class:`observability.jobs_gauge.JobStateCollector`)."""
        self.registry.register(collector)

    # --- Gemini ---------------------------------------------------------------------------------------------
    def gemini_call(self, op: str, outcome: str, duration_s: float | None = None) -> None:
        op_label = _one_of(op, GEMINI_OPS)
        self.gemini_calls.labels(op_label, _one_of(outcome, GEMINI_OUTCOMES)).inc()
        if duration_s is not None:
            self.gemini_call_duration.labels(op_label).observe(max(0.0, duration_s))

    @contextmanager
    def timed_gemini_call(self, op: str) -> Iterator[None]:
        """Count and time the Gemini call in the ``with`` body; its exception (re-raised) sets the outcome:
        GeminiTransient -> transient, GeminiPermanent or SessionGone -> permanent, anything else -> error."""
        from focalpoint_upload.gemini.errors import GeminiPermanent, GeminiTransient, SessionGone

        start = self._monotonic()
        outcome = "ok"
        try:
            yield
        except GeminiTransient:
            outcome = "transient"
            raise
        except (GeminiPermanent, SessionGone):
            outcome = "permanent"
            raise
        except BaseException:
            outcome = "error"
            raise
        finally:
            self.gemini_call(op, outcome, self._monotonic() - start)

    # --- workers --------------------------------------------------------------------------------------------
    def actor_started(self, actor: str) -> None:
        self.actor_inprogress.labels(_name(actor)).inc()

    def actor_finished(self, actor: str, outcome: str, duration_s: float) -> None:
        name = _name(actor)
        self.actor_inprogress.labels(name).dec()
        self.actor_messages.labels(name, _one_of(outcome, ACTOR_OUTCOMES)).inc()
        self.actor_duration.labels(name).observe(max(0.0, duration_s))
