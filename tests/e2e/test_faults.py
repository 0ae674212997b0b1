"""The Gemini leg under the emulator's faults: transient ones end ACTIVE with one file and at most one chunk
sent twice; permanent ones end FAILED with the right code, exactly once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from focalpoint_upload.gemini.emulator import EmulatorServer
from tests.e2e.test_pipeline import wait_state
from tests.helpers.http import attempt_id, upload_raw

MiB = 1024 * 1024
SIZE = 6 * MiB + 123


def bytes_sent(emulator: EmulatorServer) -> int:
    """Chunk bytes the server took in (answered, or dropped mid-way); a chunk it refused outright with an
    error status is not "sent twice" when it is sent again, it was never accepted."""
    return sum(e["bytes"] for e in emulator.emulator.log()
               if e["route"] in ("chunk", "finalize") and (e["status"] is None or e["status"] < 400))


def files(emulator: EmulatorServer) -> list[Any]:
    return list(emulator.emulator.files.values())


def run(make_pipeline: Any, **settings: Any) -> tuple[Any, dict[str, Any]]:
    svc = make_pipeline(**settings)
    r = upload_raw(svc.port, SIZE, attempt_id())
    assert r.status == 202
    return svc, wait_state(svc.port, r.json["jobId"], {"ACTIVE", "FAILED"}, timeout=60)


@pytest.mark.parametrize("fault", [
    {"kind": "error", "routes": "chunk", "status": 429, "retry_after": 1, "skip": 2},
    {"kind": "error", "routes": "chunk", "status": 429, "retry_delay": "1s", "skip": 1},
    {"kind": "error", "routes": "upload", "status": 503, "times": 4, "skip": 1},
    {"kind": "error", "routes": "start", "status": 500, "times": 2},
    {"kind": "drop_request", "routes": "chunk", "after_bytes": 700 * 1024, "skip": 2},
    {"kind": "drop_response", "routes": "chunk", "skip": 3},
    {"kind": "drop_response", "routes": "finalize"},
    {"kind": "error", "routes": "get", "status": 503, "times": 2},
], ids=["429-retry-after", "429-retryinfo", "503-burst", "500-on-start", "drop-mid-chunk",
        "chunk-committed-unanswered", "finalize-unanswered", "503-on-poll"])
def test_transient_faults_end_active_with_one_file(make_pipeline: Any, emulator: EmulatorServer,
                                                   fault: dict[str, Any]) -> None:
    if fault["routes"] == "get":
        emulator.emulator.configure(processing_delay_s=0.3)
    kind = fault.pop("kind")
    routes = fault.pop("routes")
    injected = emulator.emulator.add_fault(kind, routes, **fault)
    _, doc = run(make_pipeline)
    assert doc["state"] == "ACTIVE", doc
    assert injected.fired >= 1
    assert len(files(emulator)) == 1
    assert bytes_sent(emulator) <= SIZE + 1 * MiB  # at most one chunk sent twice
    assert doc["retrying"] is None


def test_session_expiry_mid_upload_starts_one_new_session_and_ends_active(make_pipeline: Any,
                                                                          emulator: EmulatorServer) -> None:
    emulator.emulator.add_fault("expire_session", "chunk", skip=2)
    _, doc = run(make_pipeline)
    assert doc["state"] == "ACTIVE"
    assert len(files(emulator)) == 1
    starts = [e for e in emulator.emulator.log() if e["route"] == "start"]
    assert len(starts) == 2


@pytest.mark.parametrize(("status", "code"), [(400, "invalid_argument"), (403, "permission_denied")])
def test_a_permanent_error_fails_the_job_at_once(make_pipeline: Any, emulator: EmulatorServer, status: int,
                                                 code: str) -> None:
    emulator.emulator.add_fault("error", "chunk", status=status, times=None, skip=1)
    _, doc = run(make_pipeline)
    assert doc["state"] == "FAILED"
    assert doc["error"]["code"] == code
    assert doc["error"]["retryable"] is False
    assert files(emulator) == []


def test_quota_that_will_not_come_back_is_permanent(make_pipeline: Any, emulator: EmulatorServer) -> None:
    emulator.emulator.add_fault("error", "start", status=429, quota_id="GenerateRequestsPerDayPerProject",
                                times=None)
    _, doc = run(make_pipeline)
    assert doc["state"] == "FAILED"
    assert doc["error"]["code"] == "quota_exhausted"


def test_a_failed_file_fails_the_job_with_our_message(make_pipeline: Any, emulator: EmulatorServer) -> None:
    emulator.emulator.add_fault("processing_failed", message="unsupported codec")
    _, doc = run(make_pipeline)
    assert doc["state"] == "FAILED"
    assert doc["error"]["code"] == "gemini_processing_failed"
    assert "unsupported codec" not in doc["error"]["message"]  # Gemini's text goes to the logs (issue 11)
    assert doc["error"]["message"].startswith("Gemini could not process the file")


def test_processing_that_never_ends_ends_processing_timeout(make_pipeline: Any, emulator: EmulatorServer) -> None:
    emulator.emulator.add_fault("processing_stuck")
    _, doc = run(make_pipeline, gemini_processing_deadline_s=2.0)
    assert doc["state"] == "FAILED"
    assert doc["error"]["code"] == "processing_timeout"
    assert files(emulator) == []  # the stuck file was deleted, not left to count against the quota


def test_transient_errors_beyond_the_budget_fail_once_with_gemini_unavailable(
        make_pipeline: Any, emulator: EmulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="focalpoint.actors")
    emulator.emulator.add_fault("error", "start", status=503, times=None)
    _, doc = run(make_pipeline, gemini_retry_budget=2)
    assert len([r for r in caplog.records if r.getMessage() == "job_failed"]) == 1
    assert doc["state"] == "FAILED"
    assert doc["error"]["code"] == "gemini_unavailable"
    assert doc["error"]["retryable"] is True
    assert doc["error"]["message"].startswith("Gemini could not be reached after")
