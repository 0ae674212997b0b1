"""Issue 11, section 4: a zero-byte file is refused with 400 ``empty_file`` whatever way it comes in; no job is
left stuck, no file is left, nothing goes to Gemini, and the attempt may be sent again with content."""

from __future__ import annotations

from collections.abc import Iterator

from tests.helpers.http import attempt_id, multipart_parts, request, upload_raw
from tests.helpers.service import RunningService


def assert_refused_clean(svc: RunningService, r: object, att: str) -> None:
    assert r.status == 400, r.body  # type: ignore[attr-defined]
    assert r.json["error"]["code"] == "empty_file"  # type: ignore[attr-defined]
    assert list(svc.service.settings.spool_dir.iterdir()) == []
    job = svc.store.find_by_attempt(att)
    assert job is None or (job.state == "FAILED" and job.ingest_failed and job.error_code == "empty_file")
    # The attempt is free: the same attempt with a real file is a new upload.
    assert upload_raw(svc.port, 10, att).status == 202


def test_raw_content_length_zero(service: RunningService) -> None:
    att = attempt_id()
    r = request(service.port, "POST", "/api/upload", {"X-Attempt-Id": att, "Content-Type": "video/mp4"}, b"")
    assert_refused_clean(service, r, att)
    assert service.store.find_by_attempt(att).bytes_received == 10  # the later real upload


def test_raw_chunked_with_no_bytes(service: RunningService) -> None:
    att = attempt_id()
    empty: Iterator[bytes] = iter(())
    r = request(service.port, "POST", "/api/upload", {"X-Attempt-Id": att, "Content-Type": "video/mp4"}, empty)
    assert_refused_clean(service, r, att)


def test_multipart_with_an_empty_file_part(service: RunningService) -> None:
    att = attempt_id()
    head, tail, _ = multipart_parts(0, boundary="b")
    r = request(service.port, "POST", "/api/upload",
                {"X-Attempt-Id": att, "Content-Type": "multipart/form-data; boundary=b"}, head + tail)
    assert_refused_clean(service, r, att)


def test_an_empty_file_never_reaches_gemini(make_pipeline, emulator) -> None:  # type: ignore[no-untyped-def]
    svc = make_pipeline()
    att = attempt_id()
    head, tail, _ = multipart_parts(0, boundary="b")
    r = request(svc.port, "POST", "/api/upload",
                {"X-Attempt-Id": att, "Content-Type": "multipart/form-data; boundary=b"}, head + tail)
    assert r.status == 400
    # Nothing was started: the refusal is decided before any job reaches the workers.
    assert emulator.emulator.log() == []
    job = svc.store.find_by_attempt(att)
    assert job.state == "FAILED"
