"""The resumable endpoints (/api/uploads, tus 1.0 and the IETF draft) behave as POST /api/upload does: tokens,
ownership (another owner's upload is 404 like an unknown one), the owner-keyed new-upload quota, the token's
size cap, JSON 405 with Allow, empty_file, and the one file-name sanitiser. Real sockets, real Redis."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable
from typing import Any

import pytest

from focalpoint_upload.frontdoor.tus import parse_metadata
from tests.helpers.http import Response, attempt_id, request, upload_raw
from tests.helpers.service import RunningService
from tests.security.test_ownership import ALICE, BOB, SECRET, bearer

TUS = {"Tus-Resumable": "1.0.0"}
DRAFT = {"Upload-Draft-Interop-Version": "6"}
BODY = "application/offset+octet-stream"


@pytest.fixture
def authed(make_service: Callable[..., RunningService]) -> RunningService:
    return make_service(auth_secret=SECRET)


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def create(svc: RunningService, who: dict[str, str], length: int = 10, name: str = "clip.mp4",
           **headers: str) -> Response:
    meta = f"filename {b64(name)},filetype {b64('video/mp4')}"
    return request(svc.port, "POST", "/api/uploads", {**TUS, **who, "Upload-Length": str(length),
                                                      "Upload-Metadata": meta, **headers})


def patch(svc: RunningService, who: dict[str, str], location: str, offset: int, body: bytes) -> Response:
    return request(svc.port, "PATCH", location, {**TUS, **who, "Upload-Offset": str(offset), "Content-Type": BODY},
                   body)


def test_every_resumable_request_without_a_good_token_is_401(authed: RunningService) -> None:
    made = create(authed, ALICE)
    assert made.status == 201
    loc = made.headers["location"]
    expired = {"Authorization": "Bearer " + bearer("alice", exp=1)["Authorization"].split()[1]}
    for who in ({}, expired):
        answers = [create(authed, who), request(authed.port, "HEAD", loc, {**TUS, **who}),
                   patch(authed, who, loc, 0, b"0123456789"), request(authed.port, "DELETE", loc, {**TUS, **who})]
        for r in [*answers, request(authed.port, "HEAD", loc, {**DRAFT, **who})]:
            assert r.status == 401, (r.status, r.body)
            assert r.headers["www-authenticate"].startswith("Bearer ")
        assert all(r.headers["tus-resumable"] == "1.0.0" for r in answers)  # the protocol's headers on errors too
    job = authed.store.get(loc.rsplit("/", 1)[1])
    assert job is not None and job.bytes_received == 0 and job.state == "SPOOLING"  # nothing reached it
    # The CORS preflight carries no credentials and learns only what the protocol publishes.
    assert request(authed.port, "OPTIONS", "/api/uploads", {}).status == 204


def test_a_resumable_401_comes_before_any_body_byte(authed: RunningService) -> None:
    loc = create(authed, ALICE).headers["location"]
    for head in (f"PATCH {loc} HTTP/1.1\r\nUpload-Offset: 0\r\nContent-Type: {BODY}\r\n",
                 f"POST /api/uploads HTTP/1.1\r\nUpload-Length: 104857600\r\nContent-Type: {BODY}\r\n"):
        with socket.create_connection(("127.0.0.1", authed.port), timeout=10) as sock:
            sock.sendall((head + "Host: x\r\nTus-Resumable: 1.0.0\r\nContent-Length: 104857600\r\n"
                                 "Expect: 100-continue\r\n\r\n").encode())
            answer = sock.recv(65536)  # no byte of the 100 MiB body was sent
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:80]


def test_another_owners_upload_is_404_like_an_unknown_one(authed: RunningService) -> None:
    made = create(authed, ALICE, length=10)
    loc = made.headers["location"]
    job_id = loc.rsplit("/", 1)[1]
    assert patch(authed, ALICE, loc, 0, b"01234").status == 204
    nowhere = request(authed.port, "HEAD", "/api/uploads/NoSuchUploadAnywhere", {**TUS, **BOB})
    assert nowhere.status == 404
    # HEAD must be 404 (not 403/423): tus-js-client then creates a new upload, which is right for a stranger.
    for r in (request(authed.port, "HEAD", loc, {**TUS, **BOB}), request(authed.port, "HEAD", loc, {**DRAFT, **BOB}),
              patch(authed, BOB, loc, 5, b"XXXXX"), request(authed.port, "DELETE", loc, {**TUS, **BOB}),
              request(authed.port, "POST", loc, {**TUS, **BOB, "X-HTTP-Method-Override": "PATCH",
                                                 "Upload-Offset": "5", "Content-Type": BODY}, b"XXXXX"),
              request(authed.port, "GET", f"/api/upload/status?jobId={job_id}", BOB)):
        assert r.status == 404, (r.status, r.body)
    assert request(authed.port, "GET", "/api/upload/status?jobId=NoSuchUploadAnywhere", BOB).json == \
        request(authed.port, "GET", f"/api/upload/status?jobId={job_id}", BOB).json  # no oracle
    job = authed.store.get(job_id)
    assert job is not None and job.owner == "u:alice" and job.bytes_received == 5 and job.state == "SPOOLING"
    head = request(authed.port, "HEAD", loc, {**TUS, **ALICE})
    assert head.status == 200 and head.headers["upload-offset"] == "5"
    assert patch(authed, ALICE, loc, 5, b"56789").status == 204
    assert request(authed.port, "GET", f"/api/upload/status?jobId={job_id}", ALICE).json["state"] == "SPOOLED"


def test_attempt_ids_of_resumable_uploads_are_per_owner(authed: RunningService) -> None:
    att = attempt_id()
    a = create(authed, ALICE, **{"X-Attempt-Id": att})
    again = create(authed, ALICE, **{"X-Attempt-Id": att})
    b = create(authed, BOB, **{"X-Attempt-Id": att})
    assert a.status == b.status == again.status == 201
    assert again.headers["location"] == a.headers["location"]  # the owner's own attempt: the same upload
    assert b.headers["location"] != a.headers["location"]  # another owner's: a new one, never alice's


def test_creations_count_against_the_owners_new_upload_quota_like_single_posts(
        make_service: Callable[..., RunningService]) -> None:
    svc = make_service(auth_secret=SECRET, limit_new_uploads_per_ip="2/hour")
    assert create(svc, ALICE).status == 201
    assert upload_raw(svc.port, 100, attempt_id(), extra=ALICE).status == 202
    over = create(svc, ALICE)
    assert over.status == 429 and over.json["error"]["code"] == "rate_limited"
    assert upload_raw(svc.port, 100, attempt_id(), extra=ALICE).status == 429  # one quota for both ways in
    assert create(svc, BOB).status == 201  # bob, from the same address, has his own


def test_the_tokens_max_bytes_caps_resumable_uploads(authed: RunningService) -> None:
    small = bearer("carol", max_bytes=4000)
    big = create(authed, small, length=4001)
    assert big.status == 413 and big.json["error"]["limit"] == 4000
    assert create(authed, small, length=4000).status == 201


def test_wrong_methods_are_json_405_with_the_routes_allow(service: Any) -> None:
    loc = create(service, {}).headers["location"]
    cases = [("GET", "/api/uploads", "OPTIONS, POST"), ("PUT", "/api/uploads", "OPTIONS, POST"),
             ("HEAD", "/api/uploads", "OPTIONS, POST"), ("PATCH", "/api/uploads", "OPTIONS, POST"),
             ("DELETE", "/api/uploads", "OPTIONS, POST"), ("GET", loc, "OPTIONS, HEAD, PATCH, DELETE"),
             ("POST", loc, "OPTIONS, HEAD, PATCH, DELETE")]
    for method, path, allow in cases:
        r = request(service.port, method, path, {**TUS, "Content-Type": BODY, "Upload-Offset": "0"}, b"abc")
        assert r.status == 405, (method, path, r.status)
        assert r.headers["allow"] == allow
        if method != "HEAD":
            assert r.json["error"]["code"] == "method_not_allowed" and r.json["error"]["allowed"] == allow.split(", ")


def test_an_empty_resumable_upload_is_400_empty_file_as_on_the_single_post(service: Any) -> None:
    for headers in (TUS, DRAFT):
        r = request(service.port, "POST", "/api/uploads", {**headers, "Upload-Length": "0"})
        assert r.status == 400 and r.json["error"]["code"] == "empty_file"
    single = request(service.port, "POST", "/api/upload", {"X-Attempt-Id": attempt_id(), "Content-Type": "video/mp4",
                                                           "Content-Length": "0"}, b"")
    assert single.json["error"]["code"] == "empty_file"


def test_the_metadata_file_name_goes_through_the_one_sanitiser(service: Any) -> None:
    nasty = "../../etc/\x1b[31mred\x1b[0m\u202eevil\r\nname.mp4"
    r = create(service, {}, name=nasty)
    assert r.status == 201
    job = service.store.get(r.headers["location"].rsplit("/", 1)[1])
    assert job.file_name == "redevilname.mp4"
    head = request(service.port, "HEAD", r.headers["location"], TUS)
    assert parse_metadata(head.headers["upload-metadata"])["filename"] == "redevilname.mp4"
    meta = "filename " + b64(b"\xff\xfe.mp4")
    not_utf8 = request(service.port, "POST", "/api/uploads", {**TUS, "Upload-Length": "10", "Upload-Metadata": meta})
    assert not_utf8.status == 400 and not_utf8.json["error"]["code"] == "bad_file_name"
    nameless = create(service, {}, name="../..")
    assert nameless.status == 201  # no name is left: the upload simply has none
    assert service.store.get(nameless.headers["location"].rsplit("/", 1)[1]).file_name is None
