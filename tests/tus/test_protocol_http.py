"""The tus and draft wire details on the real service (raw HTTP, no client library hiding anything)."""

from __future__ import annotations

import base64
import hashlib
import socket
from typing import Any

from focalpoint_upload.frontdoor.tus import parse_metadata
from tests.helpers.http import request
from tests.helpers.wait import wait_for

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
DRAFT = {"Upload-Draft-Interop-Version": "6"}
VIDEO = "filename Y2xpcC5tcDQ=,filetype dmlkZW8vbXA0"  # clip.mp4, video/mp4


def create(port: int, length: int, **headers: str) -> Any:
    return request(port, "POST", "/api/uploads", {**TUS, "Upload-Length": str(length), "Upload-Metadata": VIDEO,
                                                  **headers})


def patch(port: int, location: str, offset: int, body: bytes, **headers: str) -> Any:
    return request(port, "PATCH", location, {**TUS, "Upload-Offset": str(offset),
                                             "Content-Type": "application/offset+octet-stream", **headers}, body)


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_options_advertises_the_extensions_and_the_largest_patch(service: Any) -> None:
    r = request(service.port, "OPTIONS", "/api/uploads")
    assert r.status == 204
    assert r.headers["tus-version"] == "1.0.0"
    assert set(r.headers["tus-extension"].split(",")) == {"creation", "creation-with-upload", "termination",
                                                           "expiration", "checksum"}
    assert r.headers["tus-checksum-algorithm"] == "sha1,sha256,md5"
    limit = service.service.settings.max_append_bytes
    assert r.headers["tus-max-chunk-size"] == str(limit)
    assert f"max-append-size={limit}" in r.headers["upload-limit"]


def test_a_request_without_a_known_protocol_version_gets_412(service: Any) -> None:
    r = request(service.port, "POST", "/api/uploads", {"Upload-Length": "10"})
    assert r.status == 412 and r.headers["tus-version"] == "1.0.0"


def test_checksums_of_every_algorithm_are_checked_and_a_mismatch_drops_the_bytes(service: Any) -> None:
    r = create(service.port, 30)
    assert r.status == 201 and "upload-expires" in r.headers
    loc = r.headers["location"]
    for i, alg in enumerate(["sha1", "sha256", "md5"]):
        body = bytes([65 + i]) * 10
        wrong, right = b64(hashlib.new(alg, b"x").digest()), b64(hashlib.new(alg, body).digest())
        bad = patch(service.port, loc, 10 * i, body, **{"Upload-Checksum": f"{alg} {wrong}"})
        assert bad.status == 460 and bad.json["error"]["code"] == "checksum_mismatch"
        good = patch(service.port, loc, 10 * i, body, **{"Upload-Checksum": f"{alg} {right}"})
        assert good.status == 204 and good.headers["upload-offset"] == str(10 * (i + 1))
    job_id = loc.rsplit("/", 1)[1]
    doc = request(service.port, "GET", f"/api/upload/status?jobId={job_id}").json
    assert doc["sha256"] == hashlib.sha256(b"A" * 10 + b"B" * 10 + b"C" * 10).hexdigest()
    assert patch(service.port, loc, 30, b"x").status == 409  # complete: nothing more to append
    unknown = create(service.port, 10).headers["location"]
    assert patch(service.port, unknown, 0, b"x", **{"Upload-Checksum": "crc32 AAAA"}).status == 400


def test_a_wrong_offset_is_409_naming_the_expected_one(service: Any) -> None:
    loc = create(service.port, 100).headers["location"]
    assert patch(service.port, loc, 0, b"a" * 40).headers["upload-offset"] == "40"
    r = patch(service.port, loc, 10, b"b" * 10)
    assert r.status == 409 and r.headers["upload-offset"] == "40" and r.json["error"]["expectedOffset"] == 40
    d = request(service.port, "PATCH", loc, {**DRAFT, "Upload-Offset": "0", "Upload-Complete": "?0",
                                             "Content-Type": "application/partial-upload"}, b"c")
    assert d.status == 409 and d.headers["upload-offset"] == "40"


def test_the_attempt_id_names_one_upload_however_often_it_is_created(service: Any) -> None:
    first = create(service.port, 10, **{"X-Attempt-Id": "attempt-0001"})
    again = create(service.port, 10, **{"X-Attempt-Id": "attempt-0001"})
    meta = create(service.port, 10, **{"Upload-Metadata": VIDEO + ",attemptId YXR0ZW1wdC0wMDAx"})
    assert first.status == again.status == meta.status == 201
    assert first.headers["location"] == again.headers["location"] == meta.headers["location"]
    plain = create(service.port, 10)
    assert plain.status == 201 and plain.headers["location"] != first.headers["location"]


def test_limits_apply_at_creation(service: Any) -> None:
    s = service.service.settings
    big = create(service.port, s.max_upload_bytes + 1)
    assert big.status == 413 and big.json["error"]["code"] == "too_large"
    text = request(service.port, "POST", "/api/uploads", {**TUS, "Upload-Length": "10",
                                                          "Upload-Metadata": "filetype YXBwbGljYXRpb24veC1zaA=="})
    assert text.status == 415  # application/x-sh is not on the allow-list
    uppy = request(service.port, "POST", "/api/uploads", {**TUS, "Upload-Length": "10",
                                                          "Upload-Metadata": "name YS5wZGY=,type YXBwbGljYXRpb24vcGRm"})
    assert uppy.status == 201  # Uppy's name/type keys
    head = request(service.port, "HEAD", uppy.headers["location"], TUS)
    assert parse_metadata(head.headers["upload-metadata"]) == {"filename": "a.pdf", "filetype": "application/pdf"}
    empty = create(service.port, 0)
    assert empty.status == 400 and empty.json["error"]["code"] == "empty_file"  # as POST /api/upload


def test_creation_with_upload_and_a_patch_too_large_after_the_body_is_drained(make_service: Any) -> None:
    svc = make_service(max_append_bytes=64 * 1024)
    r = request(svc.port, "POST", "/api/uploads", {**TUS, "Upload-Length": str(200 * 1024), "Upload-Metadata": VIDEO,
                                                   "Content-Type": "application/offset+octet-stream"}, b"a" * 1000)
    assert r.status == 201 and r.headers["upload-offset"] == "1000"
    loc = r.headers["location"]
    sock = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
    try:  # the 413 comes only after the whole body: an early answer is a reset at a proxy
        sock.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 1000\r\n"
                     f"Content-Type: application/offset+octet-stream\r\nContent-Length: {100 * 1024}\r\n\r\n".encode())
        sock.sendall(b"z" * (100 * 1024 - 10))
        sock.settimeout(0.4)
        try:
            early = sock.recv(100)
        except TimeoutError:
            early = b""
        assert early == b""
        sock.settimeout(10)
        sock.sendall(b"z" * 10)
        assert sock.recv(100).startswith(b"HTTP/1.1 413")
    finally:
        sock.close()
    head = request(svc.port, "HEAD", loc, TUS)
    assert head.headers["upload-offset"] == "1000"


def test_termination_cancels_and_the_upload_is_gone(service: Any) -> None:
    loc = create(service.port, 100).headers["location"]
    patch(service.port, loc, 0, b"a" * 10)
    assert request(service.port, "DELETE", loc, TUS).status == 204
    assert request(service.port, "HEAD", loc, TUS).status == 410
    assert list(service.service.settings.spool_dir.iterdir()) == []
    assert request(service.port, "HEAD", "/api/uploads/nosuchupload0000000000", TUS).status == 404


def test_the_draft_completes_at_the_declared_length_even_with_upload_complete_0(service: Any) -> None:
    r = request(service.port, "POST", "/api/uploads", {**DRAFT, "Upload-Length": "20", "Upload-Complete": "?0",
                                                       "Upload-Metadata": VIDEO})
    assert r.status == 201 and r.headers["upload-complete"] == "?0" and r.headers["upload-offset"] == "0"
    loc = r.headers["location"]
    hdrs = {**DRAFT, "Content-Type": "application/partial-upload", "Upload-Complete": "?0"}
    bad = request(service.port, "PATCH", loc, {**hdrs, "Upload-Offset": "0", "Upload-Complete": "?1"}, b"a" * 10)
    assert bad.status == 400 and bad.json["error"]["code"] == "mismatching_length"
    one = request(service.port, "PATCH", loc, {**hdrs, "Upload-Offset": "0"}, b"a" * 10)
    assert one.status == 204 and one.headers["upload-complete"] == "?0"
    head = request(service.port, "HEAD", loc, DRAFT)
    assert head.status == 204 and head.headers["upload-offset"] == "10" and "upload-limit" in head.headers
    two = request(service.port, "PATCH", loc, {**hdrs, "Upload-Offset": "10"}, b"b" * 10)
    assert two.status == 200 and two.headers["upload-complete"] == "?1" and two.headers["upload-offset"] == "20"
    assert request(service.port, "HEAD", loc, DRAFT).headers["upload-complete"] == "?1"


def test_cors_for_allowed_origins_only(make_service: Any) -> None:
    svc = make_service(cors_origins=("https://app.example.com",))
    pre = request(svc.port, "OPTIONS", "/api/uploads", {"Origin": "https://app.example.com",
                                                         "Access-Control-Request-Method": "PATCH"})
    assert pre.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "PATCH" in pre.headers["access-control-allow-methods"]
    assert "Upload-Offset" in pre.headers["access-control-allow-headers"]
    r = create(svc.port, 10, Origin="https://app.example.com")
    exposed = r.headers["access-control-expose-headers"]
    assert all(h in exposed for h in ("Location", "Upload-Offset", "Upload-Length", "Tus-Resumable"))
    other = create(svc.port, 10, Origin="https://evil.example.com")
    assert "access-control-allow-origin" not in other.headers


def test_a_newer_head_takes_the_upload_over_and_the_stale_patch_keeps_what_it_sent(service: Any) -> None:
    loc = create(service.port, 4 * MiB).headers["location"]
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=10)
    try:  # a PATCH whose client went silent half-way (a dead connection the server has not noticed)
        sock.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                     f"Content-Type: application/offset+octet-stream\r\nContent-Length: {4 * MiB}\r\n\r\n".encode())
        sock.sendall(b"q" * (MiB + 5))
        job_id = loc.rsplit("/", 1)[1]
        part = service.service.settings.spool_dir / f"{job_id}.part"
        wait_for(lambda: part.exists() and part.stat().st_size >= MiB, what="the first batch on disk")
        head = request(service.port, "HEAD", loc, TUS)
        assert head.status == 200 and head.headers["upload-offset"] == str(MiB + 5)
        sock.settimeout(10)
        assert sock.recv(100) == b""  # the stale request was ended
        r = patch(service.port, loc, MiB + 5, b"r" * (3 * MiB - 5))
        assert r.status == 204 and r.headers["upload-offset"] == str(4 * MiB)
    finally:
        sock.close()


def test_a_storm_of_requests_on_one_upload_is_stopped(make_service: Any) -> None:
    svc = make_service(upload_requests_per_minute=3)
    loc = create(svc.port, 10).headers["location"]
    statuses = [request(svc.port, "HEAD", loc, TUS).status for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    assert create(svc.port, 10).status == 201  # other uploads are not affected


def test_patch_through_post_with_a_method_override(service: Any) -> None:
    loc = create(service.port, 5).headers["location"]
    r = request(service.port, "POST", loc, {**TUS, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0",
                                            "Content-Type": "application/offset+octet-stream"}, b"12345")
    assert r.status == 204 and r.headers["upload-offset"] == "5"


def test_a_single_post_reusing_a_resumable_attempt_id_does_not_end_it(make_service: Any) -> None:
    svc = make_service(ingest_idle_timeout_s=1.0)
    loc = create(svc.port, 10, **{"X-Attempt-Id": "attempt-0002"}).headers["location"]
    fd = svc.service.frontdoor
    real = fd.clock
    fd.clock = lambda: real() + 3600  # long past the single-request idle cut-off
    r = request(svc.port, "POST", "/api/upload", {"X-Attempt-Id": "attempt-0002", "Content-Type": "video/mp4"},
                b"x" * 10)
    assert r.status == 409 and r.json["error"]["code"] == "attempt_in_progress"
    assert request(svc.port, "HEAD", loc, TUS).headers["upload-offset"] == "0"


def test_a_draft_creation_carrying_the_whole_file_completes_it(service: Any) -> None:
    r = request(service.port, "POST", "/api/uploads", {**DRAFT, "Upload-Complete": "?1", "Upload-Metadata": VIDEO,
                                                       "Content-Type": "application/partial-upload"}, b"w" * 1234)
    assert r.status == 201 and r.headers["upload-complete"] == "?1" and r.headers["upload-offset"] == "1234"
    doc = request(service.port, "GET", f"/api/upload/status?jobId={r.headers['location'].rsplit('/', 1)[1]}").json
    assert doc["state"] == "SPOOLED" and doc["sha256"] == hashlib.sha256(b"w" * 1234).hexdigest()
