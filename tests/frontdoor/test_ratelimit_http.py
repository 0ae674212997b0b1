"""The limits over HTTP: per attempt, per IP for new uploads, per IP for status; replays never counted."""

from __future__ import annotations

from focalpoint_upload.config.parse import network
from focalpoint_upload.ratelimit import UploadLimits
from focalpoint_upload.ratelimit.arules import AsyncUploadLimits
from tests.helpers.http import PartialUpload, answer_after_whole_body, attempt_id, request, upload_raw
from tests.helpers.service import RunningService
from tests.helpers.wait import wait_for

MiB = 1024 * 1024


def status(port: int, job_id: str, ip: str | None = None) -> int:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return request(port, "GET", f"/api/upload/status?jobId={job_id}", headers).status


def test_third_request_for_one_attempt_within_a_minute_is_429(service: RunningService) -> None:
    att = attempt_id()
    first = PartialUpload(service.port, 8 * MiB, att)
    first.send(1 * MiB)
    wait_for(lambda: service.store.find_by_attempt(att))
    second = upload_raw(service.port, 1000, att)
    assert second.status == 409
    third = upload_raw(service.port, 1000, att)
    assert third.status == 429
    assert third.json["error"]["code"] == "rate_limited"
    assert int(third.headers["retry-after"]) > 0
    assert third.headers["ratelimit-policy"] == '"ingest";q=2;w=60'
    assert third.headers["ratelimit"].startswith('"ingest";r=0;t=')
    first.finish()
    first.close()


def test_replays_are_never_counted(service: RunningService) -> None:
    att = attempt_id()
    assert upload_raw(service.port, 1000, att).status == 202
    for _ in range(6):
        r = upload_raw(service.port, 1000, att)
        assert r.status == 200 and r.headers["idempotent-replayed"] == "true"
    counters = UploadLimits.from_settings(service.service.settings, service.service.redis_url)  # same Redis keys
    assert counters.peek_ingest(att).remaining == 1
    counters.close()


def test_new_uploads_per_ip_are_limited_but_retries_of_an_attempt_are_not(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(limit_new_uploads_per_ip="3/hour")
    attempts = [attempt_id() for _ in range(3)]
    for att in attempts:
        assert upload_raw(svc.port, 1000, att).status == 202
    refused = upload_raw(svc.port, 1000, attempt_id())
    assert refused.status == 429
    assert refused.headers["ratelimit-policy"] == '"uploads";q=3;w=3600'
    assert upload_raw(svc.port, 1000, attempts[0]).status == 200  # a known attempt is still answered


def test_status_flood_from_one_ip_is_cut_at_61_and_other_ips_are_unaffected(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(trusted_proxies=(network("FOCALPOINT_TRUSTED_PROXIES", "127.0.0.1"),),
                       limit_status_per_ip="60/minute")
    job = upload_raw(svc.port, 1000, attempt_id()).json["jobId"]
    codes = [status(svc.port, job, "198.51.100.7") for _ in range(61)]
    assert codes[:60] == [200] * 60
    assert codes[60] == 429
    assert status(svc.port, job, "203.0.113.9") == 200
    r = request(svc.port, "GET", f"/api/upload/status?jobId={job}", {"X-Forwarded-For": "203.0.113.9"})
    assert r.headers["ratelimit-policy"] == '"status";q=60;w=60'
    assert r.headers["ratelimit"].startswith('"status";r=58;')


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(limit_status_per_ip="5/minute")
    job = upload_raw(svc.port, 1000, attempt_id()).json["jobId"]
    codes = [status(svc.port, job, f"192.0.2.{i}") for i in range(6)]
    assert codes == [200] * 5 + [429]


def test_a_429_upload_is_answered_after_its_body_so_a_proxy_passes_it_on(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(limit_new_uploads_per_ip="1/hour")
    assert upload_raw(svc.port, 1000, attempt_id()).status == 202
    answer = answer_after_whole_body(svc.port, {"X-Attempt-Id": attempt_id(), "Content-Type": "video/mp4"},
                                     3 * MiB)
    assert answer.startswith(b"HTTP/1.1 429")


def test_redis_unreachable_fails_open_for_status_and_closed_for_uploads(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service()
    job = upload_raw(svc.port, 1000, attempt_id()).json["jobId"]
    svc.frontdoor.limits = AsyncUploadLimits.from_settings(svc.service.settings, "redis://127.0.0.1:1/0", timeout=0.2)
    assert status(svc.port, job) == 200
    refused = upload_raw(svc.port, 1000, attempt_id())
    assert refused.status == 503
    assert refused.json["error"]["code"] == "limiter_unavailable"
    assert int(refused.headers["retry-after"]) > 0
