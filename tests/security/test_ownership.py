"""Ownership over real sockets: tokens on every API path, another owner's job is 404, attempt ids per owner,
mismatched replays 422, the token's own size cap, and limits keyed on the owner."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from focalpoint_upload.frontdoor.auth import mint
from focalpoint_upload.jobs import Event, State
from tests.helpers.http import Response, attempt_id, multipart_parts, payload, request, upload_raw
from tests.helpers.service import RunningService

SECRET = "security-test-secret-" + "z" * 32


# ALICE and BOB are minted once, when pytest collects this module, and other modules import them: they must
# outlive the whole run (a CI run's py311 takes over 11 min; a 600 s lifetime expired mid-run in a fresh clone).
LIFETIME = 24 * 3600


def bearer(user: str, **claims: Any) -> dict[str, str]:
    now = time.time()
    if claims:
        body = {"sub": user, "exp": int(now + LIFETIME), **claims}
        return {"Authorization": "Bearer " + jwt.encode(body, SECRET, algorithm="HS256")}
    return {"Authorization": "Bearer " + mint(SECRET, user, LIFETIME, now)}


ALICE, BOB = bearer("alice"), bearer("bob")


@pytest.fixture
def authed(make_service: Callable[..., RunningService]) -> RunningService:
    return make_service(auth_secret=SECRET)


def upload(svc: RunningService, who: dict[str, str], att: str, size: int = 1000, **kw: Any) -> Response:
    return upload_raw(svc.port, size, att, extra=who, **kw)


def multipart(svc: RunningService, who: dict[str, str], att: str, size: int, file_name: str) -> Response:
    head, tail, total = multipart_parts(size, file_name=file_name)
    body = head + b"".join(payload(size)) + tail
    headers = {**who, "X-Attempt-Id": att, "Content-Type": "multipart/form-data; boundary=fpboundary42",
               "Content-Length": str(total)}
    return request(svc.port, "POST", "/api/upload", headers, body)


BAD_TOKENS = {
    "missing": ({}, "auth_required", 'Bearer realm="focalpoint-upload"'),
    "expired": ({"Authorization": "Bearer " + mint(SECRET, "alice", 60, time.time() - 3600)}, "token_expired",
                'error="invalid_token"'),
    "wrong signature": ({"Authorization": "Bearer " + mint("another-secret-" + "q" * 32, "alice", 600, time.time())},
                        "invalid_token", 'error="invalid_token"'),
    "wrong audience": (bearer("alice", aud="some-other-service"), "invalid_token", 'error="invalid_token"'),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_tokens_get_401_on_every_api_path(authed: RunningService, case: str) -> None:
    headers, code, challenge = BAD_TOKENS[case]
    att = attempt_id()
    answers = [
        upload(authed, headers, att),
        request(authed.port, "GET", f"/api/upload/status?attemptId={att}", headers),
        request(authed.port, "GET", "/api/upload/status?jobId=someJobId", headers),
        request(authed.port, "DELETE", "/api/upload/someJobId", headers),
        request(authed.port, "POST", "/api/upload/someJobId/retry", headers, b""),
    ]
    for r in answers:
        assert r.status == 401, (r.status, r.body)
        assert r.json["error"]["code"] == code
        assert r.headers["www-authenticate"].startswith("Bearer ")
        assert challenge in r.headers["www-authenticate"]
    assert authed.store.find_by_attempt(att) is None  # nothing was created, for nobody
    assert request(authed.port, "GET", "/api/upload/config").status == 200  # the public limits stay public


def test_401_comes_before_any_body_byte(authed: RunningService) -> None:
    with socket.create_connection(("127.0.0.1", authed.port), timeout=10) as sock:
        sock.sendall(f"POST /api/upload HTTP/1.1\r\nHost: x\r\nX-Attempt-Id: {attempt_id()}\r\n"
                     "Content-Type: video/mp4\r\nContent-Length: 104857600\r\nExpect: 100-continue\r\n\r\n".encode())
        answer = sock.recv(65536)  # no byte of the 100 MiB body was sent
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert b"www-authenticate: bearer" in answer.lower()


def test_another_owners_job_is_not_found(authed: RunningService) -> None:
    att = attempt_id()
    mine = upload(authed, ALICE, att)
    assert mine.status == 202
    job_id = mine.json["jobId"]
    store = authed.store
    store.transition(job_id, Event.UPLOAD_STARTED, expect=State.SPOOLED)
    store.transition(job_id, Event.FAIL, error_code="gemini_rejected", error_message="x", error_retryable=False)

    nowhere = request(authed.port, "GET", "/api/upload/status?jobId=NoSuchJobAnywhere", BOB)
    assert nowhere.status == 404
    for method, path in (("GET", f"/api/upload/status?jobId={job_id}"), ("GET", f"/api/upload/status?attemptId={att}"),
                         ("DELETE", f"/api/upload/{job_id}"), ("POST", f"/api/upload/{job_id}/retry")):
        theirs = request(authed.port, method, path, BOB, b"" if method == "POST" else None)
        assert theirs.status == 404, (method, path, theirs.status)
        assert theirs.json == nowhere.json  # the same answer as for an id that exists nowhere: no oracle
    assert request(authed.port, "GET", f"/api/upload/status?jobId={job_id}", ALICE).json["state"] == "FAILED"
    retried = request(authed.port, "POST", f"/api/upload/{job_id}/retry", ALICE, b"")
    assert retried.status == 202  # the owner may; bob's 404 was about ownership, not the job
    assert request(authed.port, "DELETE", f"/api/upload/{job_id}", ALICE).status == 200


def test_two_users_may_use_the_same_attempt_id(authed: RunningService) -> None:
    att = attempt_id()
    a = upload(authed, ALICE, att, size=1000)
    b = upload(authed, BOB, att, size=2000, file_name="other.mp4")
    assert a.status == 202 and b.status == 202  # bob's is a new upload, not a replay or a mismatch of alice's
    assert a.json["jobId"] != b.json["jobId"]
    for who, r in ((ALICE, a), (BOB, b)):
        doc = request(authed.port, "GET", f"/api/upload/status?attemptId={att}", who).json
        assert doc["jobId"] == r.json["jobId"]
        assert "owner" not in doc
    assert authed.store.get(a.json["jobId"]).owner == "u:alice"


def test_a_replay_with_another_file_is_422_and_reveals_nothing(authed: RunningService) -> None:
    att = attempt_id()
    first = upload(authed, ALICE, att, size=5000, file_name="clip.mp4")
    assert first.status == 202
    for changed in ({"size": 5001}, {"media_type": "video/webm"}, {"file_name": "other.mp4"},
                    {"media_type": "application/zip"}):
        r = upload(authed, ALICE, att, **{"size": 5000, "file_name": "clip.mp4", **changed})
        assert r.status == 422, (changed, r.status)
        assert r.json == {"error": {"code": "attempt_mismatch", "message": r.json["error"]["message"]}}
        assert first.json["jobId"] not in r.body.decode() and "location" not in r.headers
    same = upload(authed, ALICE, att, size=5000, file_name="clip.mp4")
    assert same.status == 200 and same.headers["idempotent-replayed"] == "true"
    assert same.json["jobId"] == first.json["jobId"]
    assert len(list(authed.service.settings.spool_dir.iterdir())) == 1  # no second spool for any of them


def test_multipart_replays_are_compared_by_their_file_part(authed: RunningService) -> None:
    att = attempt_id()
    first = multipart(authed, ALICE, att, 3000, "talk.mp4")
    assert first.status == 202
    assert multipart(authed, ALICE, att, 3000, "talk.mp4").status == 200
    assert multipart(authed, ALICE, att, 3000, "slides.mp4").status == 422
    assert multipart(authed, ALICE, att, 2999, "talk.mp4").status == 422


def test_the_tokens_max_bytes_caps_its_uploads(authed: RunningService) -> None:
    small = bearer("carol", max_bytes=4000)
    big = upload(authed, small, attempt_id(), size=5000)
    assert big.status == 413 and big.json["error"]["limit"] == 4000
    assert upload(authed, small, attempt_id(), size=4000).status == 202
    assert request(authed.port, "GET", "/api/upload/config", small).json["maxUploadBytes"] == 4000
    assert request(authed.port, "GET", "/api/upload/config").json["maxUploadBytes"] == 2 * 1024**3


def test_new_uploads_are_counted_per_owner(make_service: Callable[..., RunningService]) -> None:
    svc = make_service(auth_secret=SECRET, limit_new_uploads_per_ip="2/hour")
    assert [upload(svc, ALICE, attempt_id()).status for _ in range(3)] == [202, 202, 429]
    assert upload(svc, BOB, attempt_id()).status == 202  # same address, another owner: alice spent only hers


def test_es256_tokens_with_the_public_key(make_service: Callable[..., RunningService]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    svc = make_service(auth_public_key=pem)
    good = {"Authorization": "Bearer " + jwt.encode({"sub": "dave", "exp": int(time.time()) + 600}, key, "ES256")}
    assert upload(svc, good, attempt_id()).status == 202
    assert upload(svc, ALICE, attempt_id()).status == 401  # HS256: no secret configured


def test_auth_off_everyone_is_the_anonymous_owner(service: RunningService) -> None:
    att = attempt_id()
    assert upload(service, {}, att).status == 202
    assert service.store.find_by_attempt(att).owner == "anonymous"
    assert request(service.port, "GET", f"/api/upload/status?attemptId={att}", ALICE).status == 200  # token ignored
