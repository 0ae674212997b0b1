"""Sentry against a real local receiver: one event per failed job, tags, scrubbing of the raw bytes sent."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import dramatiq
import sentry_sdk
import tornado.web
from dramatiq.brokers.stub import StubBroker

from focalpoint_upload.config import Settings
from focalpoint_upload.observability.alerts import JobFailureAlerts
from focalpoint_upload.observability.metrics import Metrics
from focalpoint_upload.observability.sentry import (
    capture_exception,
    flush,
    init_sentry,
    sentry_enabled,
    shutdown_sentry,
)
from focalpoint_upload.observability.worker_metrics import instrument_worker_broker
from tests.observability.conftest import API_KEY, SESSION_URL, UPLOAD_ID, assert_no_secret, make_settings
from tests.observability.receiver import SentryReceiver
from tests.observability.servers import TornadoThread


def _tags(event: dict[str, Any]) -> dict[str, str]:
    tags = event.get("tags") or {}
    return dict(tags) if isinstance(tags, dict) else {k: v for k, v in tags}


def test_off_without_dsn(tmp_path: Path) -> None:
    assert init_sentry(make_settings(tmp_path, None, "fpobs"), "frontdoor") is False
    assert not sentry_enabled()
    assert capture_exception(RuntimeError("nobody listens")) is None


def test_init_is_idempotent_and_shutdown_resets(sentry_settings: Settings) -> None:
    assert init_sentry(sentry_settings, "frontdoor")
    client = sentry_sdk.get_client()
    assert init_sentry(sentry_settings, "frontdoor")
    assert sentry_sdk.get_client() is client
    assert init_sentry(sentry_settings, "worker")  # another component: a new client
    assert sentry_sdk.get_client() is not client
    shutdown_sentry()
    assert not sentry_enabled()
    assert not sentry_sdk.get_client().is_active()


def test_one_event_per_failed_job_with_tags_and_no_secret(sentry_settings: Settings,
                                                          receiver: SentryReceiver) -> None:
    init_sentry(sentry_settings, "worker")
    metrics = Metrics()
    alerts = JobFailureAlerts(metrics)
    log = logging.getLogger("focalpoint.actors")
    for n in range(3):
        # What the leg does when it fails a job: the ERROR log line, then the alert.
        log.error("job_failed", extra={"fields": {"jobId": f"job{n}", "url": SESSION_URL}})
        alerts.job_failed(f"job{n}", f"att{n}", "UPLOADING", "gemini_unavailable",
                          f"Gemini could not be reached. Last error: 503 from {SESSION_URL} key={API_KEY}")
    flush()
    events = receiver.wait_for_events(3)
    assert receiver.errors == []
    assert len(events) == 3, [e.get("message") or e.get("logentry") for e in events]
    for n, event in enumerate(sorted(events, key=lambda e: _tags(e)["jobId"])):
        tags = _tags(event)
        assert tags["jobId"] == f"job{n}" and tags["attemptId"] == f"att{n}"
        assert tags["stage"] == "UPLOADING" and tags["error_code"] == "gemini_unavailable"
        assert tags["component"] == "worker"
        assert event["fingerprint"] == ["job-failed", "gemini_unavailable"]
        assert event["contexts"]["job"]["message"].startswith("Gemini could not be reached")
    assert_no_secret(receiver.raw())
    assert b"[Filtered]" in receiver.raw()
    assert metrics.jobs_failed.labels("uploading", "gemini_unavailable")._value.get() == 3


def test_empty_attempt_id_is_not_sent_as_a_tag(sentry_settings: Settings, receiver: SentryReceiver) -> None:
    init_sentry(sentry_settings, "worker")
    JobFailureAlerts().job_failed("jobX", "", "worker", "internal_error", "retries exhausted")
    flush()
    (event,) = receiver.wait_for_events(1)
    assert "attemptId" not in _tags(event) and _tags(event)["jobId"] == "jobX"


class Boom(tornado.web.RequestHandler):
    def get(self) -> None:
        logging.getLogger("focalpoint.frontdoor").warning("calling %s", SESSION_URL)  # a breadcrumb
        raise RuntimeError(f"Gemini said no to {SESSION_URL} with x-goog-api-key: {API_KEY}")


@tornado.web.stream_request_body
class Streaming(tornado.web.RequestHandler):
    """What UploadHandler should do: never raise from data_received, report and answer instead."""

    def prepare(self) -> None:
        self.failed = False

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        try:
            raise ValueError(f"parser broke on chunk after {SESSION_URL}")
        except ValueError as exc:
            if not self.failed:
                capture_exception(exc, where="data_received", requestId="req-1", attemptId="att-9",
                                  jobId=None)
            self.failed = True
        return None

    def post(self) -> None:
        self.set_status(500)
        self.finish("failed")


def test_unhandled_handler_error_and_data_received(sentry_settings: Settings, receiver: SentryReceiver) -> None:
    init_sentry(sentry_settings, "frontdoor")
    with TornadoThread([(r"/boom", Boom), (r"/stream", Streaming)]) as app:
        status, _, _ = app.get(f"/boom?key={API_KEY}&upload_id={UPLOAD_ID}",
                               headers={"x-goog-api-key": API_KEY, "X-Goog-Upload-URL": SESSION_URL})
        assert status == 500
        conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
        conn.request("POST", "/stream", body=b"x" * 100_000)
        assert conn.getresponse().status == 500
        conn.close()
    flush()
    events = receiver.wait_for_events(2)
    assert len(events) == 2
    by_where = {_tags(e).get("where", "handler"): e for e in events}
    boom = by_where["handler"]
    assert boom["exception"]["values"][0]["type"] == "RuntimeError"
    assert boom["request"]["url"].endswith("/boom")
    assert any("calling" in (c.get("message") or "") for c in boom["breadcrumbs"]["values"])
    assert _tags(boom)["component"] == "frontdoor"
    streamed = by_where["data_received"]
    assert _tags(streamed)["requestId"] == "req-1" and "jobId" not in _tags(streamed)
    assert streamed["exception"]["values"][0]["type"] == "ValueError"
    assert_no_secret(receiver.raw())


def test_actor_error_is_one_event_per_message_not_per_retry(sentry_settings: Settings,
                                                            receiver: SentryReceiver) -> None:
    init_sentry(sentry_settings, "worker")
    broker = StubBroker()  # after init_sentry: the Dramatiq integration patches Broker.__init__
    broker.emit_after("process_boot")
    instrument_worker_broker(broker, None)
    calls: list[int] = []

    def explode(job_id: str) -> None:
        calls.append(1)
        logging.getLogger("focalpoint.actors").warning("resuming %s", SESSION_URL)
        raise RuntimeError(f"bug while uploading {job_id} to {SESSION_URL}")

    actor = dramatiq.Actor(explode, broker=broker, actor_name="explode", queue_name="default", priority=0,
                           options={"max_retries": 2, "min_backoff": 10, "max_backoff": 20})
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        actor.send("job42")
        broker.join("default", timeout=10_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    assert len(calls) == 3  # the first delivery and two retries
    flush()
    events = receiver.wait_for_events(1)
    receiver.wait_for_events(2, timeout=0.5)  # give a wrong second event the chance to arrive
    events = receiver.events()
    assert len(events) == 1, [_tags(e) for e in events]
    assert events[0]["exception"]["values"][-1]["type"] == "RuntimeError"
    assert _tags(events[0])["jobId"] == "job42" and _tags(events[0])["dramatiq_retries"] == "0"
    crumbs = events[0]["breadcrumbs"]["values"]
    assert any("resuming" in (c.get("message") or "") for c in crumbs)
    assert_no_secret(receiver.raw())
