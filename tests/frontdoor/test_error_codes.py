"""Issue 12's bugs that loose error-code strings hid, through the HTTP API: a damaged spool cannot be retried (a
missing one never could), and a cancel whose message to the workers fails says so in the log."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from focalpoint_upload.jobs import ErrorCode, Event, State, failure
from tests.helpers.http import attempt_id, request, upload_raw
from tests.helpers.service import RunningService


def _failed(service: RunningService, code: ErrorCode) -> str:
    job_id: str = upload_raw(service.port, 1000, attempt_id()).json["jobId"]
    store = service.store
    store.transition(job_id, Event.UPLOAD_STARTED, expect=State.SPOOLED)
    store.transition(job_id, Event.FAIL, **failure(code, "It failed."))
    return job_id


@pytest.mark.parametrize("code", [ErrorCode.SPOOL_DAMAGED, ErrorCode.SPOOL_MISSING])
def test_a_job_whose_spool_is_damaged_or_missing_is_not_retried(service: RunningService, code: ErrorCode) -> None:
    job_id = _failed(service, code)  # the file itself is still there: the code alone must refuse
    r = request(service.port, "POST", f"/api/upload/{job_id}/retry")
    assert r.status == 409 and r.json["error"]["code"] == "not_retryable"
    status = request(service.port, "GET", f"/api/upload/status?jobId={job_id}").json
    assert status["error"] == {"code": str(code), "message": "It failed.", "retryable": False}


def test_a_gemini_failure_is_retried_from_its_spool(service: RunningService) -> None:
    job_id = _failed(service, ErrorCode.API_KEY_INVALID)
    r = request(service.port, "POST", f"/api/upload/{job_id}/retry")
    assert r.status == 202 and r.json["state"] == "SPOOLED"


def test_a_cancel_whose_dispatch_fails_is_answered_and_logged(service: RunningService, monkeypatch: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    job_id = upload_raw(service.port, 1000, attempt_id()).json["jobId"]

    def broken(*_args: object) -> None:
        raise ConnectionError("the broker is down")

    monkeypatch.setattr(service.frontdoor.dispatcher, "job_cancelled", broken)
    with caplog.at_level(logging.WARNING, logger="focalpoint.frontdoor"):
        r = request(service.port, "DELETE", f"/api/upload/{job_id}")
    assert r.status == 200 and r.json["state"] == "CANCELLED"
    assert r.json["error"] == {"code": "cancelled", "message": "Cancelled by the client.", "retryable": False}
    logged = [rec for rec in caplog.records if rec.getMessage() == "cancel_dispatch_failed"]
    assert len(logged) == 1 and "the broker is down" in str(logged[0].exc_info[1] if logged[0].exc_info else "")
