"""Bad input: clear JSON errors with the right status, answered after the body is drained, nothing left."""

from __future__ import annotations

from tests.helpers.http import (
    PartialUpload,
    answer_after_whole_body,
    attempt_id,
    multipart_parts,
    payload,
    request,
    upload_multipart,
    upload_raw,
)
from tests.helpers.service import RunningService
from tests.helpers.wait import wait_for

MiB = 1024 * 1024


def assert_nothing_left(svc: RunningService) -> None:
    assert list(svc.service.settings.spool_dir.iterdir()) == []


def test_media_type_off_the_allow_list_is_415(service: RunningService) -> None:
    r = upload_raw(service.port, 2 * MiB, attempt_id(), media_type="application/x-msdownload")
    assert r.status == 415
    assert r.json["error"]["code"] == "unsupported_media_type"
    assert "video/*" in r.json["error"]["allowed"]
    assert_nothing_left(service)


def test_multipart_file_part_with_a_bad_type_is_415_and_leaves_nothing(service: RunningService) -> None:
    r = upload_multipart(service.port, 2 * MiB, attempt_id(), media_type="application/zip")
    assert r.status == 415
    assert_nothing_left(service)


def test_content_length_over_the_limit_is_413(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(max_upload_bytes=3 * MiB)
    r = upload_raw(svc.port, 4 * MiB, attempt_id())
    assert r.status == 413
    assert r.json["error"]["code"] == "too_large"
    assert_nothing_left(svc)


def test_chunked_body_over_the_limit_is_413_and_the_partial_file_is_removed(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(max_upload_bytes=3 * MiB)
    att = attempt_id()
    r = request(svc.port, "POST", "/api/upload", {"X-Attempt-Id": att, "Content-Type": "video/mp4"},
                payload(5 * MiB))
    assert r.status == 413
    assert_nothing_left(svc)
    job = svc.store.find_by_attempt(att)
    assert job.state == "FAILED" and job.ingest_failed  # the attempt is free: its next request starts over
    assert request(svc.port, "GET", f"/api/upload/status?attemptId={att}").status == 404


def test_chunked_body_within_the_limit_is_accepted(service: RunningService) -> None:
    r = request(service.port, "POST", "/api/upload", {"X-Attempt-Id": attempt_id(), "Content-Type": "video/mp4"},
                payload(3 * MiB + 5))
    assert r.status == 202
    assert r.json["bytesReceived"] == 3 * MiB + 5


def test_not_enough_free_space_is_507(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(min_free_bytes=10**18)
    r = upload_raw(svc.port, 1 * MiB, attempt_id())
    assert r.status == 507
    assert r.json["error"]["code"] == "insufficient_storage"
    assert_nothing_left(svc)


def test_spool_cap_turns_uploads_away_with_507(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(spool_cap_bytes=3 * MiB)
    assert upload_raw(svc.port, 2 * MiB, attempt_id()).status == 202
    r = upload_raw(svc.port, 2 * MiB, attempt_id())
    assert r.status == 507


def test_malformed_multipart_is_400(service: RunningService) -> None:
    body = b"--b\r\nthis is not a header block\r\n\r\nzzz"
    r = request(service.port, "POST", "/api/upload",
                {"X-Attempt-Id": attempt_id(), "Content-Type": "multipart/form-data; boundary=b"}, body)
    assert r.status == 400
    assert r.json["error"]["code"] == "malformed_multipart"
    assert_nothing_left(service)


def test_multipart_without_a_file_part_is_400(service: RunningService) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nhello\r\n--b--\r\n'
    r = request(service.port, "POST", "/api/upload",
                {"X-Attempt-Id": attempt_id(), "Content-Type": "multipart/form-data; boundary=b"}, body)
    assert r.status == 400
    assert r.json["error"]["code"] == "no_file_part"


def test_multipart_with_two_file_parts_is_400(service: RunningService) -> None:
    head, _, _ = multipart_parts(10, boundary="b")
    part = (b'--b\r\nContent-Disposition: form-data; name="f2"; filename="two.mp4"\r\n'
            b"Content-Type: video/mp4\r\n\r\n0123456789\r\n")
    body = head + b"0123456789\r\n" + part + b"--b--\r\n"
    r = request(service.port, "POST", "/api/upload",
                {"X-Attempt-Id": attempt_id(), "Content-Type": "multipart/form-data; boundary=b"}, body)
    assert r.status == 400
    assert r.json["error"]["code"] == "multiple_file_parts"
    assert_nothing_left(service)


def test_multipart_without_boundary_is_400(service: RunningService) -> None:
    r = request(service.port, "POST", "/api/upload",
                {"X-Attempt-Id": attempt_id(), "Content-Type": "multipart/form-data"}, b"abc")
    assert r.status == 400


def test_a_refused_request_is_answered_only_after_its_whole_body_was_read(service: RunningService) -> None:
    """A proxy that is answered before it sent the whole body reports 502; so we drain first."""
    answer = answer_after_whole_body(service.port, {"X-Attempt-Id": "bad", "Content-Type": "video/mp4"}, 4 * MiB)
    assert answer.startswith(b"HTTP/1.1 400")


def test_unknown_route_is_a_json_404(service: RunningService) -> None:
    r = request(service.port, "GET", "/api/nope")
    assert r.status == 404
    assert r.json["error"]["code"] == "not_found"


def test_request_id_is_echoed_or_made(service: RunningService) -> None:
    r = request(service.port, "GET", "/api/upload/config", {"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r2 = request(service.port, "GET", "/api/upload/config")
    assert len(r2.headers["x-request-id"]) == 32


def test_an_unreachable_job_store_is_a_503_after_the_body_not_a_reset(service: RunningService) -> None:
    import redis.asyncio

    from focalpoint_upload.jobs.astore import AsyncRedisJobStore
    from focalpoint_upload.jobs.layout import Layout

    dead = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    service.frontdoor.store = AsyncRedisJobStore(dead, Layout("x", 60), lambda: 0.0)
    service.frontdoor.limits = None
    answer = answer_after_whole_body(service.port, {"X-Attempt-Id": attempt_id(), "Content-Type": "video/mp4"},
                                     2 * MiB)
    assert answer.startswith(b"HTTP/1.1 503")
    assert b'"unavailable"' in answer
    assert_nothing_left(service)


def test_other_methods_are_405_and_claim_nothing(service: RunningService) -> None:
    att = attempt_id()
    for method in ("PUT", "PATCH", "GET"):
        body = b"x" * 1000 if method != "GET" else None
        r = request(service.port, method, "/api/upload", {"X-Attempt-Id": att, "Content-Type": "video/mp4"}, body)
        assert r.status == 405
    assert service.store.find_by_attempt(att) is None
    assert_nothing_left(service)


def test_a_declared_size_reserves_nothing_up_front_and_space_runs_out_for_the_late_upload(make_service) -> None:  # type: ignore[no-untyped-def]
    # Room for one 30 MiB upload, not for two. The first declares 30 MiB but has sent 1 MiB: it holds that and
    # a look-ahead, not its declared size, so the second (all sent at once) gets the room and its 202; the
    # first then runs out of space half-way and fails 507, leaving no file.
    svc = make_service(spool_cap_bytes=45 * MiB)
    first = PartialUpload(svc.port, 30 * MiB, attempt_id())
    first.send(1 * MiB)
    wait_for(lambda: svc.frontdoor.inflight)
    second = upload_raw(svc.port, 30 * MiB, attempt_id())
    assert second.status == 202
    answer = first.finish()
    first.close()
    assert answer.startswith(b"HTTP/1.1 507"), answer[:200]
    spool = svc.service.settings.spool_dir
    wait_for(lambda: [p.name for p in spool.iterdir()] == [second.json["jobId"]])
    # A declared size that cannot fit beside what is on disk is refused at once (after the drain).
    third = upload_raw(svc.port, 30 * MiB, attempt_id())
    assert third.status == 507
