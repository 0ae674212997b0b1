"""Attempt ids: replay, 409 while streaming, abort frees the attempt, idle cut-off."""

from __future__ import annotations

import time

import pytest
import redis

from tests.helpers.http import PartialUpload, attempt_id, request, upload_raw
from tests.helpers.service import RunningService
from tests.helpers.wait import wait_for

MiB = 1024 * 1024


def job_by_attempt(svc: RunningService, att: str):  # type: ignore[no-untyped-def]
    return svc.store.find_by_attempt(att)


def test_same_attempt_after_completion_is_replayed_not_spooled_again(service: RunningService) -> None:
    att = attempt_id()
    first = upload_raw(service.port, 2 * MiB, att)
    assert first.status == 202
    again = upload_raw(service.port, 2 * MiB, att)
    assert again.status == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json["jobId"] == first.json["jobId"]
    assert again.json["sha256"] == first.json["sha256"]
    assert len(list(service.service.settings.spool_dir.iterdir())) == 1


def test_idempotency_key_header_is_accepted_as_the_attempt(service: RunningService) -> None:
    att = attempt_id()
    first = upload_raw(service.port, 1000, att, extra={"X-Attempt-Id": "", "Idempotency-Key": att})
    assert first.status == 202, first.body
    assert first.json["attemptId"] == att


def test_same_attempt_while_streaming_gets_409_after_its_body_is_drained(service: RunningService) -> None:
    att = attempt_id()
    streaming = PartialUpload(service.port, 8 * MiB, att)
    streaming.send(2 * MiB)
    wait_for(lambda: job_by_attempt(service, att))
    second = upload_raw(service.port, 8 * MiB, att)
    assert second.status == 409
    assert second.json["error"]["code"] == "attempt_in_progress"
    assert int(second.headers["retry-after"]) > 0
    answer = streaming.finish()
    assert answer.startswith(b"HTTP/1.1 202")
    streaming.close()
    third = upload_raw(service.port, 8 * MiB, att, extra={"X-File-Name": ""})  # the same file: no name either
    assert third.status == 200 and third.headers["idempotent-replayed"] == "true"


def test_abort_mid_upload_fails_the_job_removes_the_file_and_frees_the_attempt(service: RunningService) -> None:
    att = attempt_id()
    up = PartialUpload(service.port, 50 * MiB, att)
    up.send(10 * MiB)
    job = wait_for(lambda: job_by_attempt(service, att))
    up.close()
    failed = wait_for(lambda: (j := service.store.get(job.job_id)) and j.state == "FAILED" and j)
    assert failed.error_code == "client_aborted"
    wait_for(lambda: not list(service.service.settings.spool_dir.iterdir()))
    assert request(service.port, "GET", f"/api/upload/status?attemptId={att}").status == 404  # free again
    again = upload_raw(service.port, 1 * MiB, att)
    assert again.status == 202
    assert again.json["jobId"] != job.job_id


def test_a_stalled_upload_is_cut_off_after_the_idle_timeout(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(ingest_idle_timeout_s=0.5)
    att = attempt_id()
    up = PartialUpload(svc.port, 10 * MiB, att)
    up.send(1 * MiB)
    job = wait_for(lambda: job_by_attempt(svc, att))
    failed = wait_for(lambda: (j := svc.store.get(job.job_id)) and j.state == "FAILED" and j)
    assert failed.error_code == "client_aborted"
    assert "No data arrived" in failed.error_message
    assert up.sock.recv(10) == b""  # the server closed the connection
    up.close()
    assert not list(svc.service.settings.spool_dir.iterdir())


def test_dead_front_door_leaves_a_stale_spooling_job_that_the_next_request_takes_over(
        service: RunningService, redis_client: redis.Redis) -> None:
    from focalpoint_upload.jobs import Job, State, new_job_id

    att = attempt_id()
    long_ago = time.time() - 3600
    ghost = Job(job_id=new_job_id(), attempt_id=att, state=State.SPOOLING, created_at=long_ago,
                updated_at=long_ago)
    assert service.store.claim(ghost) is None
    r = upload_raw(service.port, 1000, att)
    assert r.status == 202
    assert service.store.get(ghost.job_id).error_code == "ingest_interrupted"


@pytest.mark.parametrize("header", ["", "short", "has space in it", "x" * 129, "bad/char!"])
def test_missing_or_malformed_attempt_id_is_400(service: RunningService, header: str) -> None:
    r = request(service.port, "POST", "/api/upload", {"X-Attempt-Id": header, "Content-Type": "video/mp4"},
                b"x" * 1000)
    assert r.status == 400
    assert r.json["error"]["code"] == "bad_attempt_id"
