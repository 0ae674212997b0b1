"""Webhook delivery on a real Redis outbox with the in-memory sender and a hand-moved clock: the back-off
schedule, 2xx / 410 / failures, one event id across attempts, the store's outbox hook, claims, secrecy."""

from __future__ import annotations

import itertools
import json
import logging
import time

import pytest
import redis
from standardwebhooks import Webhook

from focalpoint_upload.actors.webhook_http import MemorySender
from focalpoint_upload.actors.webhook_pump import WebhookPump
from focalpoint_upload.actors.webhooks import Deliverer, backoff_delay
from focalpoint_upload.config import ConfigError, load_settings
from focalpoint_upload.jobs import Event, Job, RedisJobStore, State, new_job_id
from focalpoint_upload.jobs.outbox import Outbox
from focalpoint_upload.observability.metrics import Metrics
from tests.conftest import FakeClock

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URL = "https://app.example/hooks?token=url-token-xyz"
HOUR = 3600.0


def no_jitter(a: float, b: float) -> float:
    return 1.0


def make(redis_client: redis.Redis, namespace: str, clock: FakeClock,
         statuses: list[int | None]) -> tuple[RedisJobStore, Outbox, Deliverer, MemorySender, Metrics]:
    outbox = Outbox(redis_client, namespace, clock, 2 * 86400)
    store = RedisJobStore(redis_client, namespace, clock, 3600, on_transition=outbox.on_transition)
    sender = MemorySender(list(statuses))
    metrics = Metrics()
    deliverer = Deliverer(url=URL, secret=SECRET, outbox=outbox, sender=sender, clock=clock, retry_base_s=5.0,
                          retry_for_s=86400.0, metrics=metrics, uniform=no_jitter)
    return store, outbox, deliverer, sender, metrics


def final_job(store: RedisJobStore, clock: FakeClock, *events: Event) -> Job:
    job = Job(job_id=new_job_id(), attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
              updated_at=clock())
    store.claim(job)
    for event in (Event.SPOOL_COMPLETE, *events):
        job = store.transition(job.job_id, event)
    return job


def count(metrics: Metrics, outcome: str) -> float:
    return metrics.registry.get_sample_value("focalpoint_webhook_deliveries_total", {"outcome": outcome}) or 0.0


def test_backoff_doubles_from_the_base_up_to_an_hour_with_jitter() -> None:
    assert [backoff_delay(n, 5.0, uniform=no_jitter) for n in (1, 2, 3, 4)] == [5.0, 10.0, 20.0, 40.0]
    assert backoff_delay(12, 5.0, uniform=no_jitter) == HOUR
    assert backoff_delay(1, 5.0, uniform=lambda a, b: b) == 6.0  # +20 %
    assert backoff_delay(1, 5.0, uniform=lambda a, b: a) == 4.0  # -20 %


def test_failures_are_retried_on_schedule_for_24_hours_then_dropped(
        redis_client: redis.Redis, namespace: str, clock: FakeClock) -> None:
    store, outbox, deliverer, sender, metrics = make(redis_client, namespace, clock, [500] * 1000)
    final_job(store, clock, Event.FAIL)
    start = clock()
    (event_id, due), = outbox.due(clock())
    times, outcome = [], ""
    while outcome != "dropped":
        (seen, due), = outbox.due(clock() + 10 * 86400.0)
        assert seen == event_id
        clock.now = due
        times.append(due - start)
        outcome = deliverer.deliver(event_id)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    assert gaps[:5] == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert max(gaps) == HOUR and times[-1] == 86400.0  # the last attempt at the end of the window
    # t=0, 10 doubling steps (5 s .. 42 min, to t=5115 s), 22 hourly ones (to 84315 s), the last at 24 h
    assert len(times) == 1 + 10 + 22 + 1
    assert outbox.pending() == 0 and outbox.load(event_id) is None
    assert {r[2]["webhook-id"] for r in sender.requests} == {event_id}
    assert len({r[1] for r in sender.requests}) == 1  # the same body on every attempt
    assert count(metrics, "failed") == 33 and count(metrics, "dropped") == 1


@pytest.mark.parametrize(("statuses", "outcome"), [([200], "delivered"), ([204], "delivered"), ([410], "gone"),
                                                   ([None, 503, 201], "delivered"), ([404, 410], "gone")])
def test_a_2xx_or_a_410_ends_delivery(redis_client: redis.Redis, namespace: str, clock: FakeClock,
                                      statuses: list[int | None], outcome: str) -> None:
    store, outbox, deliverer, sender, metrics = make(redis_client, namespace, clock, statuses)
    final_job(store, clock, Event.CANCEL)
    (event_id, _), = outbox.due(clock())
    results = []
    while outbox.pending():
        (_, due), = outbox.due(clock() + 10 * 86400.0)
        clock.now = max(clock.now, due)
        results.append(deliverer.deliver(event_id))
    assert results == ["failed"] * (len(statuses) - 1) + [outcome]
    assert count(metrics, "failed") == len(statuses) - 1 and count(metrics, outcome) == 1
    assert deliverer.deliver(event_id) == "missing" and len(sender.requests) == len(statuses)


def test_the_signature_verifies_with_standardwebhooks(redis_client: redis.Redis, namespace: str) -> None:
    clock = FakeClock(time.time())  # receivers refuse timestamps more than 5 minutes from their own clock
    store, outbox, deliverer, sender, _ = make(redis_client, namespace, clock, [])
    job = final_job(store, clock, Event.UPLOAD_STARTED, Event.FAIL)
    (event_id, _), = outbox.due(clock())
    deliverer.deliver(event_id)
    (url, body, headers), = sender.requests
    assert url == URL and headers["content-type"] == "application/json"
    event = Webhook(SECRET).verify(body, headers)
    assert event["type"] == "upload.failed"
    assert event["data"] == store.get(job.job_id).public()  # type: ignore[union-attr]
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(body.replace(b"FAILED", b"ACTIVE"), headers)


def test_the_store_records_one_event_per_final_transition(redis_client: redis.Redis, namespace: str,
                                                          clock: FakeClock) -> None:
    store, outbox, *_ = make(redis_client, namespace, clock, [])
    job = final_job(store, clock, Event.UPLOAD_STARTED)
    assert outbox.pending() == 0  # not final: nothing to tell
    store.transition(job.job_id, Event.FAIL, error_code="gemini_unavailable")
    clock.advance(1.0)
    store.transition(job.job_id, Event.RETRY)  # back to SPOOLED: it will end again, and say so again
    store.transition(job.job_id, Event.UPLOAD_STARTED)
    store.transition(job.job_id, Event.UPLOAD_FINISHED)
    store.transition(job.job_id, Event.FILE_ACTIVE)
    events = [outbox.load(e) for e, _ in outbox.due(clock())]
    assert [json.loads(e.body)["type"] for e in events if e] == ["upload.failed", "upload.active"]


def test_only_one_pump_sends_a_due_event(redis_client: redis.Redis, namespace: str, clock: FakeClock) -> None:
    store, outbox, *_ = make(redis_client, namespace, clock, [])
    final_job(store, clock, Event.CANCEL)
    sent: list[str] = []
    pumps = [WebhookPump(outbox, sent.append, clock, claim_s=100.0) for _ in range(2)]
    assert sum(p.pump_once() for p in pumps) == 1
    clock.advance(99.0)
    assert pumps[0].pump_once() == 0  # claimed: the message is on its way
    clock.advance(2.0)
    assert pumps[1].pump_once() == 1  # that message was lost (no attempt recorded): the event is due again
    assert len(set(sent)) == 1 and len(sent) == 2


def test_nothing_logged_carries_the_secret_or_the_url(redis_client: redis.Redis, namespace: str, clock: FakeClock,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    store, outbox, deliverer, sender, _ = make(redis_client, namespace, clock, [None, 500, 200])
    final_job(store, clock, Event.CANCEL)
    with caplog.at_level(logging.DEBUG):
        while outbox.pending():
            (event_id, due), = outbox.due(clock() + 10 * 86400.0)
            clock.now = max(clock.now, due)
            deliverer.deliver(event_id)
    text = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert "webhook_failed" in text and "webhook_delivered" in text
    signatures = [r[2]["webhook-signature"].split(",")[1] for r in sender.requests]
    for secret in (SECRET, SECRET.removeprefix("whsec_"), "url-token-xyz", *signatures):
        assert secret not in text


def test_settings_need_both_and_never_show_the_secret() -> None:
    s = load_settings({"FOCALPOINT_WEBHOOK_URL": "https://app.example/hooks/", "FOCALPOINT_WEBHOOK_SECRET": SECRET})
    assert s.webhook_url == "https://app.example/hooks/" and SECRET not in repr(s)
    assert s.webhook_retry_for_s == 86400.0 and s.webhook_retry_base_s == 5.0
    with pytest.raises(ConfigError, match="FOCALPOINT_WEBHOOK_SECRET"):
        load_settings({"FOCALPOINT_WEBHOOK_URL": "https://app.example/hooks"})
    with pytest.raises(ConfigError, match="FOCALPOINT_WEBHOOK_URL"):
        load_settings({"FOCALPOINT_WEBHOOK_SECRET": SECRET})
    with pytest.raises(ConfigError) as info:
        load_settings({"FOCALPOINT_WEBHOOK_URL": "https://a.example", "FOCALPOINT_WEBHOOK_SECRET": "whsec_c2hvcnQ="})
    assert "c2hvcnQ" not in str(info.value)
