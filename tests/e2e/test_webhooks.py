"""Signed webhooks end to end: the service with real Dramatiq workers and the emulator posts every final state
to a receiver on loopback that verifies with the ``standardwebhooks`` library."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from focalpoint_upload.gemini.emulator import EmulatorServer
from focalpoint_upload.jobs.outbox import Outbox
from tests.e2e.test_pipeline import wait_state
from tests.helpers.http import attempt_id, request, upload_raw
from tests.helpers.wait import wait_for
from tests.helpers.webhook_receiver import WebhookReceiver

SECRET = "whsec_AUCG6/i/9lgZ8BRzMS/rP4WX3pLin9sUpd0T1GS+bas="
SIZE = 1024 * 1024 + 5


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as r:
        yield r


def start(make_pipeline: Any, receiver: WebhookReceiver) -> Any:
    # Retries a tenth of a second apart (the schedule itself is unit-tested with a clock in tests/actors).
    return make_pipeline(webhook_url=receiver.url, webhook_secret=SECRET, webhook_retry_base_s=0.1)


def outbox_empty(redis_client: redis.Redis, namespace: str) -> bool:
    return Outbox(redis_client, namespace, lambda: 0.0, 60).pending() == 0


def metric(port: int, outcome: str) -> float:
    text = request(port, "GET", "/metrics").body.decode()
    m = re.search(rf'^focalpoint_webhook_deliveries_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_active_is_posted_signed_and_retried_after_a_500_with_the_same_event_id(
        make_pipeline: Any, receiver: WebhookReceiver, redis_client: redis.Redis, namespace: str) -> None:
    receiver.statuses = [500]
    svc = start(make_pipeline, receiver)
    r = upload_raw(svc.port, SIZE, attempt_id())
    doc = wait_state(svc.port, r.json["jobId"], {"ACTIVE", "FAILED"})
    assert doc["state"] == "ACTIVE"
    first, second = receiver.wait_for(2)
    assert [first.status, second.status] == [500, 200]
    assert first.payload is not None and second.payload is not None  # both signatures verified
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-id"].startswith("msg_")
    assert first.body == second.body
    event = second.payload
    assert event["type"] == "upload.active"
    assert event["data"] == doc  # the job's status document, as GET /api/upload/status renders it
    assert event["data"]["sha256Verified"] is True
    wait_for(lambda: outbox_empty(redis_client, namespace), what="outbox emptied")
    wait_for(lambda: metric(svc.port, "delivered") == 1.0, what="delivery counted")
    assert metric(svc.port, "failed") == 1.0
    assert len(receiver.received) == 2


def test_410_stops_delivery(make_pipeline: Any, receiver: WebhookReceiver, redis_client: redis.Redis,
                            namespace: str) -> None:
    receiver.statuses = [410]
    svc = start(make_pipeline, receiver)
    r = upload_raw(svc.port, SIZE, attempt_id())
    wait_state(svc.port, r.json["jobId"], {"ACTIVE"})
    receiver.wait_for(1)
    # Once the event has left the outbox nothing can send it again (the outbox is what is owed).
    wait_for(lambda: outbox_empty(redis_client, namespace), what="outbox emptied")
    wait_for(lambda: metric(svc.port, "gone") == 1.0, what="410 counted")
    assert [x.status for x in receiver.received] == [410]


def test_failed_and_cancelled_are_posted(make_pipeline: Any, receiver: WebhookReceiver,
                                         emulator: EmulatorServer) -> None:
    svc = start(make_pipeline, receiver)
    emulator.emulator.add_fault("corrupt_bytes", "finalize", times=2)
    failed = upload_raw(svc.port, SIZE, attempt_id()).json["jobId"]
    assert wait_state(svc.port, failed, {"ACTIVE", "FAILED"})["state"] == "FAILED"
    emulator.emulator.add_fault("processing_stuck", "finalize")
    stuck = upload_raw(svc.port, SIZE, attempt_id()).json["jobId"]
    wait_state(svc.port, stuck, {"PROCESSING"})
    assert request(svc.port, "DELETE", f"/api/upload/{stuck}").status == 200
    got = {x.payload["data"]["jobId"]: x.payload for x in receiver.wait_for(2)}
    assert got[failed]["type"] == "upload.failed"
    assert got[failed]["data"]["error"]["code"] == "integrity_mismatch"
    assert got[stuck]["type"] == "upload.cancelled" and got[stuck]["data"]["state"] == "CANCELLED"
