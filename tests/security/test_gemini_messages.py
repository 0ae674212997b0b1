"""Issue 11, section 4: Gemini's own error text never reaches the public status. ``gemini.translate`` maps
every failure to our sentence; Gemini's text (which may name internals, request details or URLs) is logged."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from focalpoint_upload.gemini.emulator import EmulatorServer
from focalpoint_upload.gemini.errors import PERMANENT_CODES, GeminiPermanent, GeminiTransient, SessionGone
from focalpoint_upload.gemini.translate import TRANSIENT_MESSAGE, from_http, public_message
from tests.e2e.test_pipeline import wait_state
from tests.helpers.http import attempt_id, upload_raw

RAW = "RAW-GEMINI-TEXT backend=borg-cell-7 upload_id=AbC123"
MiB = 1024 * 1024


def test_every_permanent_code_has_our_own_sentence() -> None:
    sentences = set()
    for code in PERMANENT_CODES:
        text = public_message(GeminiPermanent(code, RAW, 400))
        assert RAW not in text and text
        sentences.add(text)
    assert len(sentences) == len(PERMANENT_CODES)  # a sentence per code, not one catch-all
    assert public_message(GeminiTransient(RAW)) == TRANSIENT_MESSAGE
    assert public_message(SessionGone(RAW)) == TRANSIENT_MESSAGE


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 418, 429, 500, 503])
def test_whatever_gemini_answers_the_public_text_is_ours(status: int) -> None:
    error = from_http(status, {}, {"error": {"code": status, "message": RAW}}, what="upload chunk")
    assert RAW in str(error)  # kept for the logs
    assert RAW not in public_message(error)


def run(make_pipeline: Any, **settings: Any) -> tuple[Any, dict[str, Any]]:
    svc = make_pipeline(**settings)
    r = upload_raw(svc.port, 2 * MiB + 7, attempt_id())
    assert r.status == 202
    return svc, wait_state(svc.port, r.json["jobId"], {"ACTIVE", "FAILED"}, timeout=60)


def gemini_text_logged(caplog: pytest.LogCaptureFixture) -> bool:
    return any(RAW in r.getMessage() or RAW in json.dumps(getattr(r, "fields", {}), default=str)
               for r in caplog.records)


def test_a_permanent_refusal_shows_our_message(make_pipeline: Any, emulator: EmulatorServer,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    emulator.emulator.add_fault("error", "chunk", status=403, message=RAW, times=None)
    _, doc = run(make_pipeline)
    assert doc["state"] == "FAILED"
    assert doc["error"]["code"] == "permission_denied"
    assert doc["error"]["message"] == public_message("permission_denied")
    assert RAW not in json.dumps(doc)
    assert gemini_text_logged(caplog)


def test_a_failed_file_shows_our_message(make_pipeline: Any, emulator: EmulatorServer,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    emulator.emulator.add_fault("processing_failed", message=RAW)
    _, doc = run(make_pipeline)
    assert doc["error"]["code"] == "gemini_processing_failed"
    assert RAW not in json.dumps(doc)
    assert gemini_text_logged(caplog)


def test_transient_failures_show_our_message_while_retrying_and_at_the_end(
        make_pipeline: Any, emulator: EmulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    emulator.emulator.add_fault("error", "start", status=503, message=RAW, times=None)
    svc, doc = run(make_pipeline, gemini_retry_budget=2)
    assert doc["error"]["code"] == "gemini_unavailable"
    assert RAW not in json.dumps(doc)
    job = svc.store.get(doc["jobId"])
    assert job.last_error == TRANSIENT_MESSAGE  # what "retrying.lastError" showed meanwhile
    assert RAW not in (job.error_message or "")
    assert gemini_text_logged(caplog)
