"""Signed webhooks: delivering the outbox's events (``jobs.outbox``) to FOCALPOINT_WEBHOOK_URL.

Format and signature follow the Standard Webhooks specification, signed by the ``standardwebhooks`` library
(the one receivers verify with): headers ``webhook-id`` (the event id, the same on every attempt),
``webhook-timestamp`` (this attempt's Unix time) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``, re-signed per attempt because receivers refuse timestamps older than 5 minutes). The
body is fixed when the job becomes final: ``{"type": "upload.active|upload.failed|upload.cancelled",
"timestamp": ..., "data": <the job's status document>}``.

Delivery is at least once. A 2xx ends it; a 410 Gone ends it too (the receiver asks for no more); any other
status or no answer is tried again after :func:`backoff_delay`, for up to FOCALPOINT_WEBHOOK_RETRY_FOR (24 h)
after the event was recorded; then it is dropped and logged. Every attempt is counted in
``focalpoint_webhook_deliveries_total{outcome}``. Nothing logged carries the secret, a signature or the URL.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import redis
from standardwebhooks import Webhook

from focalpoint_upload.actors.policy import Uniform
from focalpoint_upload.actors.webhook_http import DeliveryFailed, Sender
from focalpoint_upload.config import Settings
from focalpoint_upload.jobs.outbox import EventOutbox, Outbox
from focalpoint_upload.observability.metrics import Metrics

log = logging.getLogger("focalpoint.webhooks")
RETRY_CAP_S = 3600.0
KEEP_AFTER_WINDOW_S = 86400.0  # an event's record outlives its retry window by a day, then Redis drops it


def backoff_delay(failures: int, base_s: float, cap_s: float = RETRY_CAP_S,
                  uniform: Uniform = random.uniform) -> float:
    """Seconds before the next attempt after ``failures`` failed ones (1, 2, ...): ``base * 2**(failures-1)``
    capped at ``cap_s``, with +-20 % jitter so the events of one outage do not return all at once."""
    nominal = min(cap_s, base_s * 2.0 ** max(0, failures - 1))
    return nominal * uniform(0.8, 1.2)


def outbox_for(settings: Settings, client: redis.Redis, clock: Callable[[], float]) -> Outbox | None:
    """The outbox the job store records final states in; None when no webhook is configured."""
    if not settings.webhook_url:
        return None
    return Outbox(client, settings.redis_namespace, clock, settings.webhook_retry_for_s + KEEP_AFTER_WINDOW_S)


@dataclass
class Deliverer:
    """One attempt per :meth:`deliver` call; the pump (``actors.webhook_pump``) decides when calls happen."""

    url: str
    secret: str
    outbox: EventOutbox
    sender: Sender
    clock: Callable[[], float]
    retry_base_s: float
    retry_for_s: float
    metrics: Metrics | None = None
    uniform: Uniform = random.uniform

    def __post_init__(self) -> None:
        self._signer = Webhook(self.secret)

    def headers(self, event_id: str, body: str, now: float) -> dict[str, str]:
        stamp = int(now)
        signature = self._signer.sign(event_id, dt.datetime.fromtimestamp(stamp, dt.UTC), body)
        return {"webhook-id": event_id, "webhook-timestamp": str(stamp), "webhook-signature": signature,
                "content-type": "application/json", "user-agent": "focalpoint-upload"}

    def deliver(self, event_id: str) -> str:
        """Try the event once; returns the outcome (delivered, gone, failed, dropped, or missing)."""
        event = self.outbox.load(event_id)
        if event is None:  # delivered meanwhile (a duplicate message), or expired: nothing to send
            self.outbox.done(event_id)
            return "missing"
        now = self.clock()
        status: int | None = None
        reason = ""
        try:
            status = self.sender.post(self.url, event.body.encode(), self.headers(event_id, event.body, now))
        except DeliveryFailed as exc:
            reason = str(exc)
        fields: dict[str, object] = {"eventId": event_id, "jobId": event.job_id, "status": status,
                                     "attempt": event.attempts + 1}
        if status is not None and (200 <= status < 300 or status == 410):
            outcome = "delivered" if status != 410 else "gone"
            self.outbox.done(event_id)
            log.info("webhook_" + outcome, extra={"fields": fields})
        else:
            failures = event.attempts + 1
            fields["reason"] = reason or f"HTTP {status}"
            end = event.created + self.retry_for_s
            if now >= end:
                outcome = "dropped"
                self.outbox.done(event_id)
                log.error("webhook_dropped", extra={"fields": fields})
            else:
                outcome = "failed"
                at = min(end, now + backoff_delay(failures, self.retry_base_s, uniform=self.uniform))
                self.outbox.retry_at(event_id, failures, at)
                fields["retryInS"] = round(at - now, 3)
                log.warning("webhook_failed", extra={"fields": fields})
        if self.metrics is not None:
            self.metrics.webhook_delivery(outcome)
        return outcome
