"""Upload session URLs carry ``upload_id`` and are bearer capabilities: after full uploads through the real
service (front door, in-process Dramatiq workers, the Gemini emulator), no log record, Sentry envelope, metric
or response holds one. And one upload writes a handful of log lines, not one per chunk."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from focalpoint_upload.gemini.emulator import EmulatorServer
from focalpoint_upload.logs import JsonFormatter
from focalpoint_upload.observability.sentry import flush, init_sentry, shutdown_sentry
from tests.helpers.http import attempt_id, request, upload_raw
from tests.helpers.service import RunningService, service_settings
from tests.helpers.wait import wait_for
from tests.observability.receiver import SentryReceiver

MiB = 1024 * 1024
CHUNK = 1 * MiB
SIZE = 8 * MiB + 5  # nine chunk requests to Gemini
UNSCRUBBED = re.compile(r"upload_id=(?!\[Filtered\])")


class Capture(logging.Handler):
    """Every record that reaches the root logger, as the service's JSON line (message, fields, traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.formatter_ = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.formatter_.format(record))


@pytest.fixture
def capture() -> Iterator[Capture]:
    root = logging.getLogger()
    handler, old_level = Capture(), root.level
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


def start(tmp_path: Path, redis_url: str, namespace: str, emulator: EmulatorServer, **overrides: Any) -> RunningService:
    settings = service_settings(tmp_path, redis_url, namespace, gemini_base_url=emulator.base_url,
                                gemini_api_key=emulator.api_key, gemini_chunk_bytes=CHUNK, **overrides)
    return RunningService(settings, with_workers=True)


def wait_final(svc: RunningService, job_id: str) -> str:
    """The job's final state, read from the store (no status polls: they would add access lines)."""
    store = svc.store
    final = {"ACTIVE", "FAILED", "CANCELLED"}
    job = wait_for(lambda: (j := store.get(job_id)) is not None and str(j.state) in final and j, timeout=60,
                   what=f"job {job_id} final")
    return str(job.state)


def session_ids(emulator: EmulatorServer) -> list[str]:
    ids = list(emulator.emulator.sessions)
    assert ids, "the emulator saw no upload session"
    return ids


def test_no_session_url_in_logs_sentry_metrics_or_responses(tmp_path: Path, redis_url: str, namespace: str,
                                                           emulator: EmulatorServer, capture: Capture) -> None:
    logging.getLogger().setLevel(logging.DEBUG)  # the strictest case: every library's DEBUG chatter included
    receiver = SentryReceiver().start()
    svc = None
    try:
        settings = service_settings(tmp_path, redis_url, namespace, sentry_dsn=receiver.dsn,
                                    sentry_environment="test")
        assert init_sentry(settings, "serve")  # before the broker exists, as the CLI does
        svc = start(tmp_path, redis_url, namespace, emulator, sentry_dsn=receiver.dsn, sentry_environment="test")
        # One upload that goes ACTIVE, one whose file fails in Gemini after all its chunks (an ERROR line and a
        # Sentry event whose breadcrumbs are the log lines of the upload).
        ok = upload_raw(svc.port, SIZE, attempt_id())
        assert ok.status == 202, ok.body
        assert wait_final(svc, ok.json["jobId"]) == "ACTIVE"
        emulator.emulator.add_fault("processing_failed", message="Video codec not supported.", error_code=400)
        bad = upload_raw(svc.port, SIZE, attempt_id(), seed=2)
        assert bad.status == 202, bad.body
        assert wait_final(svc, bad.json["jobId"]) == "FAILED"
        flush()
        events = receiver.wait_for_events(1)
        answers = [request(svc.port, "GET", f"/api/upload/status?jobId={job}").body
                   for job in (ok.json["jobId"], bad.json["jobId"])]
        answers.append(request(svc.port, "GET", "/metrics").body)
        answers.append(request(svc.port, "GET", "/readyz").body)
    finally:
        if svc is not None:
            svc.stop()
        shutdown_sentry()
        receiver.stop()

    ids = session_ids(emulator)
    assert len(ids) == 2
    assert events and receiver.errors == []
    assert any(r.name == "httpx2" for r in capture.records), "the HTTP client's lines were not captured"
    raw_sentry = b"".join(env.raw for env in receiver.envelopes)
    for upload_id in ids:
        leaks = [line for line in capture.lines if upload_id in line]
        assert leaks == [], leaks[:3]
        assert upload_id.encode() not in raw_sentry
        assert all(upload_id.encode() not in body for body in answers)
    assert [line for line in capture.lines if UNSCRUBBED.search(line)] == []
    assert not UNSCRUBBED.search(raw_sentry.decode("utf-8", "replace"))


def test_one_upload_writes_a_handful_of_lines(tmp_path: Path, redis_url: str, namespace: str,
                                              emulator: EmulatorServer, capture: Capture) -> None:
    logging.getLogger().setLevel(logging.INFO)  # the service's default FOCALPOINT_LOG_LEVEL
    svc = start(tmp_path, redis_url, namespace, emulator)
    try:
        wait_for(lambda: any(r.getMessage() == "sweep" for r in capture.records), what="the start-up sweep")
        capture.records.clear()
        capture.lines.clear()
        r = upload_raw(svc.port, SIZE, attempt_id())
        assert r.status == 202, r.body
        assert wait_final(svc, r.json["jobId"]) == "ACTIVE"
        lines = list(capture.lines)
    finally:
        svc.stop()
    chunks = sum(1 for e in emulator.emulator.log() if e["route"] in ("chunk", "finalize"))
    assert chunks >= 9  # the chunk traffic happened ...
    assert 1 <= len(lines) <= 5, "\n".join(lines)  # ... and left a handful of lines, none per chunk
    assert not any('"logger":"httpx2"' in line for line in lines)
