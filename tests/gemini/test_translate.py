"""Which answers are worth retrying, and how long the server asked us to wait."""

from __future__ import annotations

import email.utils

import pytest

from focalpoint_upload.gemini import translate
from focalpoint_upload.gemini.emulator import wire
from focalpoint_upload.gemini.errors import GeminiPermanent, GeminiTransient
from focalpoint_upload.gemini.model import file_from_json, sha256_hex


def test_retry_after_header_forms() -> None:
    assert translate.retry_after_header("5") == 5.0
    assert translate.retry_after_header(None) is None
    assert translate.retry_after_header("soon") is None
    date = email.utils.formatdate(1_800_000_030, usegmt=True)
    assert translate.retry_after_header(date, now=1_800_000_000) == 30.0


def test_retry_info_and_header_take_the_longer() -> None:
    body = wire.error_body(429, "slow down", [wire.retry_info(3)])
    err = translate.from_http(429, {"retry-after": "1"}, body, what="x")
    assert isinstance(err, GeminiTransient) and err.retry_after == 3.0
    assert translate.retry_delay(wire.error_body(429, "m", [wire.retry_info(0.5)])) == 0.5


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses(status: int) -> None:
    err = translate.from_http(status, {}, wire.error_body(status, "m"), what="x")
    assert isinstance(err, GeminiTransient) and err.retry_after is None


@pytest.mark.parametrize(("status", "code"), [(400, "invalid_argument"), (401, "unauthenticated"),
                                              (403, "permission_denied"), (404, "not_found"),
                                              (413, "too_large"), (418, "http_error")])
def test_permanent_statuses(status: int, code: str) -> None:
    err = translate.from_http(status, {}, "not json", what="x")
    assert isinstance(err, GeminiPermanent) and err.code == code and err.status == status


def test_quota_that_waiting_will_not_fix_is_permanent() -> None:
    storage = wire.error_body(429, "full", [wire.quota_failure("FileStorageBytesPerProject")])
    per_day = wire.error_body(429, "day", [wire.quota_failure("RequestsPerDayPerProject"), wire.retry_info(30)])
    huge = wire.error_body(429, "later", [wire.retry_info(86400)])
    per_minute = wire.error_body(429, "minute", [wire.quota_failure("RequestsPerMinute"), wire.retry_info(20)])
    for body in (storage, per_day, huge):
        err = translate.from_http(429, {}, body, what="x")
        assert isinstance(err, GeminiPermanent) and err.code == "quota_exhausted"
    assert isinstance(translate.from_http(429, {}, per_minute, what="x"), GeminiTransient)


def test_api_key_invalid() -> None:
    err = translate.from_http(400, {}, wire.api_key_invalid(), what="x")
    assert isinstance(err, GeminiPermanent) and err.code == "api_key_invalid"


def test_file_json_parsing() -> None:
    body = wire.file_body(file_id="abc", display_name=None, mime_type="video/mp4", size=3, created=0.0,
                          updated=0.0, expires=172800.0, sha256_hex="ab" * 32, base_url="http://h",
                          version="v1beta", state="FAILED", error=(13, "bad"))
    info = file_from_json(body)
    assert (info.name, info.uri, info.state, info.size_bytes) == ("files/abc", "http://h/v1beta/files/abc", "FAILED", 3)
    assert info.error_message == "bad" and info.sha256_hex == "ab" * 32
    assert info.expiration_time is not None and info.expiration_time.timestamp() == 172800.0
    nanos = file_from_json({"name": "files/x", "expirationTime": "2026-01-01T00:00:00.123456789Z"})
    assert nanos.expiration_time is not None and nanos.expiration_time.microsecond == 123456
    import base64, hashlib  # noqa: E401, I001

    digest = hashlib.sha256(b"x").digest()
    assert sha256_hex(base64.b64encode(digest).decode()) == digest.hex()
    with pytest.raises(GeminiPermanent):
        file_from_json({"no": "name"})
