"""POST /api/upload over real HTTP against the real service and a real Redis."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.helpers.http import attempt_id, payload_sha256, request, upload_multipart, upload_raw
from tests.helpers.service import RunningService


def spooled_files(svc: RunningService) -> list[Path]:
    return sorted(svc.service.settings.spool_dir.iterdir())


def test_small_raw_upload_is_spooled_and_answered_202(service: RunningService) -> None:
    att = attempt_id()
    r = upload_raw(service.port, 5 * 1024 * 1024 + 7, att)
    assert r.status == 202, r.body
    assert r.json["state"] == "SPOOLED"
    assert r.json["attemptId"] == att
    assert r.json["bytesReceived"] == 5 * 1024 * 1024 + 7
    assert r.json["sha256"] == payload_sha256(5 * 1024 * 1024 + 7)
    assert r.headers["location"] == f"/api/upload/status?jobId={r.json['jobId']}"
    [spooled] = spooled_files(service)
    assert spooled.name == r.json["jobId"]
    assert hashlib.sha256(spooled.read_bytes()).hexdigest() == r.json["sha256"]


def test_multipart_upload_spools_only_the_file_part(service: RunningService) -> None:
    r = upload_multipart(service.port, 3 * 1024 * 1024 + 1, attempt_id(), seed=7)
    assert r.status == 202, r.body
    assert r.json["sha256"] == payload_sha256(3 * 1024 * 1024 + 1, seed=7)
    status = request(service.port, "GET", f"/api/upload/status?jobId={r.json['jobId']}").json
    assert status["fileName"] == "clip.mp4"
    assert status["mimeType"] == "video/mp4"
    assert status["state"] == "SPOOLED"


def test_an_empty_body_is_refused_as_empty_file(service: RunningService) -> None:
    # Issue 11: a zero-byte file is no upload (tests/security/test_empty_file.py covers every way in).
    att = attempt_id()
    r = request(service.port, "POST", "/api/upload", {"X-Attempt-Id": att, "Content-Type": "text/plain"}, b"")
    assert r.status == 400, r.body
    assert r.json["error"]["code"] == "empty_file"
    assert service.store.find_by_attempt(att) is None
