"""Moves due webhook events from the outbox to the ``deliver_webhook`` actor, in every worker process.

A daemon thread looks at the outbox every ``interval_s`` (a quarter second: one cheap ZRANGEBYSCORE). Each due
event is first *claimed* (its due time moved ``claim_s`` ahead, atomically, so two processes do not both send
it), then sent to the actor. If that message is lost (a worker killed mid-delivery, Redis restarted) the event
simply falls due again when the claim lapses: the outbox, not the message, is the record of what is owed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dramatiq
import redis

from focalpoint_upload.actors.loopthread import LoopThread
from focalpoint_upload.actors.webhook_http import HttpSender
from focalpoint_upload.actors.webhooks import Deliverer, outbox_for
from focalpoint_upload.config import Settings
from focalpoint_upload.jobs.outbox import EventOutbox
from focalpoint_upload.observability.metrics import Metrics

log = logging.getLogger("focalpoint.webhooks")
WEBHOOK_QUEUE = "webhooks"
DELIVER_ACTOR = "deliver_webhook"


class WebhookPump(LoopThread):
    def __init__(self, outbox: EventOutbox, send: Callable[[str], None], clock: Callable[[], float], *,
                 claim_s: float, interval_s: float = 0.25) -> None:
        super().__init__("webhook-pump")
        self.outbox = outbox
        self._send = send
        self._clock = clock
        self._claim_s = claim_s
        self._interval = interval_s

    def pump_once(self) -> int:
        """Send every due event that this process claims; returns how many it sent."""
        now = self._clock()
        sent = 0
        for event_id, score in self.outbox.due(now):
            if self.outbox.claim(event_id, score, now + self._claim_s):
                self._send(event_id)
                sent += 1
        return sent

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.pump_once()
            except Exception:  # Redis down for a moment: the events wait in the outbox
                log.exception("webhook_pump_failed")


def start_webhooks(settings: Settings, broker: dramatiq.Broker, client: redis.Redis, clock: Callable[[], float],
                   metrics: Metrics | None = None) -> WebhookPump | None:
    """Declare the delivery actor on ``broker`` and build the pump (not started); None without webhooks.
    Call before the broker's Worker starts, so the worker consumes the webhooks queue."""
    outbox = outbox_for(settings, client, clock)
    if outbox is None or settings.webhook_secret is None:
        return None
    deliverer = Deliverer(url=settings.webhook_url or "", secret=settings.webhook_secret, outbox=outbox,
                          sender=HttpSender(settings.webhook_timeout_s), clock=clock,
                          retry_base_s=settings.webhook_retry_base_s, retry_for_s=settings.webhook_retry_for_s,
                          metrics=metrics)

    def deliver_webhook(event_id: str) -> None:
        deliverer.deliver(event_id)

    time_limit_ms = int((settings.webhook_timeout_s * 4 + 30) * 1000)  # connect + write + read + pool, bounded
    actor: dramatiq.Actor[Any, Any] = dramatiq.Actor(
        deliver_webhook, broker=broker, actor_name=DELIVER_ACTOR, queue_name=WEBHOOK_QUEUE, priority=10,
        options={"max_retries": 0, "time_limit": time_limit_ms})
    # Dramatiq's own retries are off: a delivery that crashes is owed by the outbox and falls due again
    # when its claim lapses (after the longest a delivery can take).
    def send(event_id: str) -> None:
        actor.send(event_id)

    return WebhookPump(outbox, send, clock, claim_s=time_limit_ms / 1000 + 30)
