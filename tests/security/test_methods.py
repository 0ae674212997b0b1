"""Issue 11, section 4: a method a route does not serve is a JSON 405 with ``Allow``, never a traceback, and the
connection goes on serving the next (pipelined) request."""

from __future__ import annotations

import logging

import pytest

from tests.helpers.http import attempt_id, request
from tests.helpers.service import RunningService
from tests.security.rawhttp import Conn, head_of

# Every route and the methods it serves; the rest of STANDARD must be 405 with exactly this Allow.
ROUTES = {
    "/api/upload": ("POST",),
    "/api/upload/status?jobId=abc": ("GET",),
    "/api/upload/config": ("GET",),
    "/api/upload/abcdefgh": ("DELETE",),
    "/api/upload/abcdefgh/retry": ("POST",),
}
STANDARD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def no_error_records(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [], [r.getMessage() for r in bad]


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "PATCH", "OPTIONS"])
def test_upload_route_answers_405_json_with_allow(service: RunningService, errors: pytest.LogCaptureFixture,
                                                  method: str) -> None:
    att = attempt_id()
    body = b"x" * 5000 if method in ("PUT", "PATCH") else None
    r = request(service.port, method, "/api/upload", {"X-Attempt-Id": att, "Content-Type": "video/mp4"}, body)
    assert r.status == 405
    assert r.headers["allow"] == "POST"
    assert r.headers["content-type"].startswith("application/json")
    if method != "HEAD":
        assert r.json["error"]["code"] == "method_not_allowed"
    assert service.store.find_by_attempt(att) is None  # nothing claimed
    assert list(service.service.settings.spool_dir.iterdir()) == []  # nothing opened
    no_error_records(errors)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT"])
def test_the_pipelined_next_request_is_still_answered(service: RunningService, errors: pytest.LogCaptureFixture,
                                                      method: str) -> None:
    conn = Conn(service.port)
    try:
        first = head_of(method, "/api/upload", {"X-Attempt-Id": attempt_id(), "Content-Type": "video/mp4",
                                                **({"Content-Length": "3000"} if method == "PUT" else {})})
        if method == "PUT":
            first += b"y" * 3000
        conn.send(first + head_of("GET", "/api/upload/config"))
        a = conn.read_answer(head_request=method == "HEAD")
        assert a.status == 405 and a.headers["allow"] == "POST"
        b = conn.read_answer()
        assert b.status == 200
        assert "maxUploadBytes" in b.json
    finally:
        conn.close()
    no_error_records(errors)


@pytest.mark.parametrize("path", list(ROUTES))
def test_every_route_answers_unsupported_methods_with_a_json_405(service: RunningService,
                                                                 errors: pytest.LogCaptureFixture,
                                                                 path: str) -> None:
    allowed = ROUTES[path]
    for method in STANDARD:
        if method in allowed:
            continue
        r = request(service.port, method, path, {}, b"" if method in ("POST", "PUT", "PATCH") else None)
        assert r.status == 405, (method, path, r.status)
        assert r.headers["allow"] == ", ".join(allowed), (method, path)
        if method != "HEAD":
            assert r.json["error"] == {"code": "method_not_allowed", "allowed": list(allowed),
                                       "message": r.json["error"]["message"]}
    no_error_records(errors)


def test_a_method_tornado_does_not_know_is_a_json_405_too(service: RunningService,
                                                          errors: pytest.LogCaptureFixture) -> None:
    for path in ("/api/upload", "/api/upload/config"):
        r = request(service.port, "PROPFIND", path)
        assert r.status == 405
        assert r.json["error"]["code"] == "method_not_allowed"
    no_error_records(errors)

