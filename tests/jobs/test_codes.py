"""Issue 12: one ErrorCode knows, for every code a job can carry, whether it is an ingest failure, whether it is
retryable, and whether POST .../retry may run the job again from its spool."""

from __future__ import annotations

import json

import pytest

from focalpoint_upload.gemini.errors import PERMANENT_CODES
from focalpoint_upload.gemini.translate import PROCESSING_FAILED
from focalpoint_upload.jobs import INGEST_FAILURES, ErrorCode, Job, State, failure

# What clients read (README "Failure codes"); a stable API: these values never change.
PUBLISHED = {"client_aborted", "client_too_slow", "ingest_interrupted", "empty_file", "upload_expired",
             "gemini_unavailable", "gemini_processing_failed", "processing_timeout", "deadline_exceeded",
             "gemini_storage_timeout", "spool_missing", "integrity_mismatch", "internal_error", "invalid_argument",
             "api_key_invalid", "permission_denied", "not_found", "too_large", "quota_exhausted"}


def test_every_published_and_every_gemini_code_is_a_member() -> None:
    values = {code.value for code in ErrorCode}
    assert values >= PUBLISHED
    assert set(PERMANENT_CODES) <= values  # the leg turns GeminiPermanent.code into an ErrorCode
    assert PROCESSING_FAILED in values
    assert "spool_error" not in values  # was never set by anything


def test_ingest_failures_are_never_run_again_from_the_spool() -> None:
    for code in ErrorCode:
        assert not (code.ingest and code.from_spool), code
    assert {code.value for code in ErrorCode if code.ingest} == INGEST_FAILURES
    assert {"client_aborted", "ingest_interrupted", "upload_expired", "too_large", "internal"} <= INGEST_FAILURES


def test_a_lost_or_damaged_spool_is_not_run_again_but_a_gemini_failure_is() -> None:
    assert not ErrorCode.SPOOL_MISSING.from_spool and not ErrorCode.SPOOL_DAMAGED.from_spool
    assert not ErrorCode.SPOOL_DAMAGED.retryable and not ErrorCode.SPOOL_DAMAGED.ingest
    assert ErrorCode.GEMINI_UNAVAILABLE.from_spool and ErrorCode.GEMINI_UNAVAILABLE.retryable
    assert ErrorCode.API_KEY_INVALID.from_spool and not ErrorCode.API_KEY_INVALID.retryable


def test_a_code_is_its_text_everywhere_it_goes() -> None:
    assert ErrorCode.UPLOAD_EXPIRED == "upload_expired" and str(ErrorCode.UPLOAD_EXPIRED) == "upload_expired"
    assert json.dumps({"code": ErrorCode.SPOOL_DAMAGED}) == '{"code": "spool_damaged"}'
    assert ErrorCode("spool_missing") is ErrorCode.SPOOL_MISSING
    assert ErrorCode.parse("spool_missing") is ErrorCode.SPOOL_MISSING
    assert ErrorCode.parse("from_a_newer_version") is None and ErrorCode.parse(None) is None


def test_failure_gives_the_codes_own_retryable_and_its_fixed_sentence() -> None:
    assert failure(ErrorCode.INGEST_INTERRUPTED) == {
        "error_code": "ingest_interrupted", "error_message": "The upload stopped arriving before it was complete.",
        "error_retryable": True}
    assert failure(ErrorCode.TOO_LARGE, "Too big.")["error_retryable"] is False
    with pytest.raises(ValueError, match="no fixed message"):
        failure(ErrorCode.CLIENT_ABORTED)  # its message depends on what happened


def test_a_job_knows_its_failed_ingest_from_the_stored_text() -> None:
    job = Job(job_id="j" * 16, attempt_id="a" * 8, state=State.FAILED, created_at=0.0, updated_at=0.0)
    assert job.with_(error_code="client_aborted").ingest_failed
    assert not job.with_(error_code="gemini_unavailable").ingest_failed
    assert not job.with_(error_code="someone_elses_code").ingest_failed
    assert not job.with_(state=State.CANCELLED, error_code="client_aborted").ingest_failed
    stored = Job.from_hash(job.with_(**failure(ErrorCode.UPLOAD_EXPIRED)).to_hash())
    assert stored.error_code == "upload_expired" and stored.ingest_failed and stored.error_retryable is True
