"""GET /api/upload/status, ETag/304, DELETE (cancel), GET /api/upload/config."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from focalpoint_upload.jobs import Event, State
from focalpoint_upload.jobs.record import IDLE_AFTER_S
from tests.helpers.http import PartialUpload, attempt_id, request, upload_raw
from tests.helpers.service import RunningService, service_settings
from tests.helpers.wait import wait_for

MiB = 1024 * 1024


def test_status_of_a_spooled_job(service: RunningService) -> None:
    att = attempt_id()
    up = upload_raw(service.port, 2 * MiB, att, file_name="caf%C3%A9.mp4")
    r = request(service.port, "GET", f"/api/upload/status?jobId={up.json['jobId']}")
    assert r.status == 200
    doc = r.json
    assert doc["state"] == "SPOOLED"
    assert doc["attemptId"] == att
    assert doc["progress"] == {"bytesReceived": 2 * MiB, "bytesTotal": 2 * MiB, "bytesUploaded": 0}
    assert doc["fileName"] == "café.mp4"
    assert doc["mimeType"] == "video/mp4"
    assert doc["fileUri"] is None and doc["error"] is None
    assert doc["pollAfterMs"] == 1000
    assert str(service.service.settings.spool_dir) not in r.body.decode()
    assert "spoolPath" not in doc and "spool_path" not in doc
    by_attempt = request(service.port, "GET", f"/api/upload/status?attemptId={att}")
    assert by_attempt.json["jobId"] == up.json["jobId"]


def test_etag_and_304_for_an_unchanged_job(service: RunningService) -> None:
    up = upload_raw(service.port, 1000, attempt_id())
    path = f"/api/upload/status?jobId={up.json['jobId']}"
    first = request(service.port, "GET", path)
    etag = first.headers["etag"]
    second = request(service.port, "GET", path, {"If-None-Match": etag})
    assert second.status == 304
    assert second.body == b""
    service.store.update(up.json["jobId"], expect="SPOOLED", bytes_uploaded=10)
    third = request(service.port, "GET", path, {"If-None-Match": etag})
    assert third.status == 200
    assert third.headers["etag"] != etag


def test_status_of_an_unknown_job_is_404_and_a_missing_id_400(service: RunningService) -> None:
    assert request(service.port, "GET", "/api/upload/status?jobId=nope").status == 404
    assert request(service.port, "GET", "/api/upload/status?attemptId=nope-nope-nope").status == 404
    r = request(service.port, "GET", "/api/upload/status")
    assert r.status == 400 and r.json["error"]["code"] == "missing_id"


def test_status_while_spooling_shows_progress(service: RunningService) -> None:
    att = attempt_id()
    up = PartialUpload(service.port, 20 * MiB, att)
    up.send(6 * MiB)
    doc = wait_for(lambda: (r := request(service.port, "GET", f"/api/upload/status?attemptId={att}")).status == 200
                   and r.json["progress"]["bytesReceived"] >= 5 * MiB and r.json)
    assert doc["state"] == "SPOOLING"
    assert doc["progress"]["bytesTotal"] == 20 * MiB
    up.finish()
    up.close()


def test_cancel_a_spooled_job_removes_its_file(service: RunningService) -> None:
    up = upload_raw(service.port, 2 * MiB, attempt_id())
    r = request(service.port, "DELETE", f"/api/upload/{up.json['jobId']}")
    assert r.status == 200
    assert r.json["state"] == "CANCELLED"
    assert list(service.service.settings.spool_dir.iterdir()) == []
    again = request(service.port, "DELETE", f"/api/upload/{up.json['jobId']}")
    assert again.status == 409 and again.json["error"]["code"] == "job_final"
    assert request(service.port, "DELETE", "/api/upload/unknownjob").status == 404


def test_cancel_while_spooling_stops_the_upload_and_removes_the_part_file(service: RunningService) -> None:
    att = attempt_id()
    up = PartialUpload(service.port, 30 * MiB, att)
    up.send(4 * MiB)
    job = wait_for(lambda: service.store.find_by_attempt(att))
    assert request(service.port, "DELETE", f"/api/upload/{job.job_id}").status == 200
    answer = up.finish()
    up.close()
    assert answer.startswith(b"HTTP/1.1 409"), answer[:200]
    assert b"job_cancelled" in answer
    assert list(service.service.settings.spool_dir.iterdir()) == []
    assert service.store.get(job.job_id).state == "CANCELLED"


def test_config_publishes_the_limits(service: RunningService) -> None:
    r = request(service.port, "GET", "/api/upload/config")
    assert r.json["maxUploadBytes"] == 2 * 1024**3
    assert "video/*" in r.json["allowedMediaTypes"]
    assert r.json["geminiEmulated"] is False


def test_config_says_when_gemini_is_emulated(make_service: Any) -> None:
    svc = make_service(emulate_gemini=True)
    assert request(svc.port, "GET", "/api/upload/config").json["geminiEmulated"] is True


def test_poll_after_is_1s_while_the_job_moves_and_5s_once_it_sat_still(tmp_path: Path, redis_url: str,
                                                                       namespace: str) -> None:
    now = [time.time()]
    svc = RunningService(service_settings(tmp_path, redis_url, namespace), clock=lambda: now[0])
    try:
        job_id = upload_raw(svc.port, 1000, attempt_id()).json["jobId"]
        path = f"/api/upload/status?jobId={job_id}"
        store = svc.store
        assert request(svc.port, "GET", path).json["pollAfterMs"] == 1000
        store.transition(job_id, Event.UPLOAD_STARTED, expect=State.SPOOLED)
        store.transition(job_id, Event.UPLOAD_FINISHED, expect=State.UPLOADING, bytes_uploaded=1000)
        now[0] += IDLE_AFTER_S - 1  # PROCESSING for almost five minutes: Gemini may finish any moment
        assert request(svc.port, "GET", path).json["pollAfterMs"] == 1000
        now[0] += 2  # nothing has changed for five minutes: back off
        assert request(svc.port, "GET", path).json["pollAfterMs"] == 5000
        store.transition(job_id, Event.FILE_ACTIVE, expect=State.PROCESSING, gemini_file_uri="u")
        assert request(svc.port, "GET", path).json["pollAfterMs"] is None
    finally:
        svc.stop()
