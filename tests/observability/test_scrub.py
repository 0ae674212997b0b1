"""The scrubber on the shapes secrets take in events: URLs, header text, mappings, header lists, reprs."""

from __future__ import annotations

import logging
import sys

from focalpoint_upload.gemini.translate import from_transport, redact
from focalpoint_upload.observability.scrub import FILTERED, LogScrubber, Scrubber
from tests.observability.conftest import API_KEY, SESSION_URL, UPLOAD_ID

S = Scrubber([API_KEY, "sk", None, ""])  # too-short and empty literals are ignored


def test_text_forms() -> None:
    cases = [
        f"PUT {SESSION_URL} failed",
        f"GET https://x.example/v1beta/files/abc?key={API_KEY}&alt=json",
        f"headers: x-goog-api-key: {API_KEY}",
        f"{{'X-Goog-Upload-URL': '{SESSION_URL}', 'Content-Type': 'video/mp4'}}",
        f'{{"x-goog-upload-url":"https://h/u?upload_id={UPLOAD_ID}"}}',
        f"Settings(gemini_api_key='{API_KEY}', port=8080)",
        f"upload_id={UPLOAD_ID}",
        f"receive_response_headers return_value=[(b'X-Goog-Upload-URL', b'/u?x=1&a={UPLOAD_ID}')]",
        f"a Google-shaped key AIza{'Q' * 35} we were not told about",
    ]
    for text in cases:
        out = S.text(text)
        assert API_KEY not in out and UPLOAD_ID not in out and "AIzaQQQ" not in out, out
        assert FILTERED in out
    assert S.text("Content-Type: video/mp4; monkey=1 sk") == "Content-Type: video/mp4; monkey=1 sk"


def test_mappings_and_lists() -> None:
    event = {
        "request": {"url": "https://h/x", "query_string": f"key={API_KEY}&a=1",
                    "headers": {"X-Goog-Api-Key": "opaque-value", "X-Goog-Upload-URL": "opaque", "Accept": "*/*"}},
        "extra": {"gemini_upload_url": "no-marker-at-all", "job": {"note": SESSION_URL}, "n": 3, "none": None},
        "breadcrumbs": {"values": [{"message": f"retry {SESSION_URL}", "data": {"fields": {"key": "k-value"}}}]},
        "header_list": [["x-goog-api-key", "v1"], ["accept", "json"]],
        "tuple": ("x-goog-upload-url", "v2"),
    }
    out = S.event(event)
    assert out["request"]["query_string"] == f"key={FILTERED}&a=1"
    assert out["request"]["headers"] == {"X-Goog-Api-Key": FILTERED, "X-Goog-Upload-URL": FILTERED, "Accept": "*/*"}
    assert out["extra"]["gemini_upload_url"] == FILTERED and out["extra"]["n"] == 3 and out["extra"]["none"] is None
    assert UPLOAD_ID not in str(out) and "k-value" not in str(out)
    assert out["header_list"] == [["x-goog-api-key", FILTERED], ["accept", "json"]]
    assert out["tuple"] == ("x-goog-upload-url", FILTERED)
    assert event["extra"]["gemini_upload_url"] == "no-marker-at-all"  # the input is not modified


def _record(level: int, msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("httpx2", level, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_log_scrubber_rewrites_message_fields_and_traceback() -> None:
    f = LogScrubber(S)
    rec = _record(logging.WARNING, "HTTP Request: POST %s %r", SESSION_URL, "HTTP/1.1 503",
                  fields={"url": SESSION_URL, "note": f"key={API_KEY}"})
    try:
        raise RuntimeError(f"boom at {SESSION_URL}")
    except RuntimeError:
        rec.exc_info = sys.exc_info()
    assert f.filter(rec)
    assert UPLOAD_ID not in rec.getMessage() and rec.args is None and rec.levelno == logging.WARNING
    assert UPLOAD_ID not in str(rec.fields) and rec.fields["note"] == f"key={FILTERED}"  # type: ignore[attr-defined]
    assert rec.exc_info is None and rec.exc_text and "boom at" in rec.exc_text and UPLOAD_ID not in rec.exc_text


def test_log_scrubber_demotes_info_to_debug_and_drops_it_unless_debug_is_on() -> None:
    root = logging.getLogger()
    old = root.level
    try:
        root.setLevel(logging.INFO)
        assert not LogScrubber(S, demote=True).filter(_record(logging.INFO, "HTTP Request: POST %s", SESSION_URL))
        warning = _record(logging.WARNING, "x")
        assert LogScrubber(S, demote=True).filter(warning) and warning.levelno == logging.WARNING
        root.setLevel(logging.DEBUG)
        rec = _record(logging.INFO, "HTTP Request: POST %s", SESSION_URL)
        assert LogScrubber(S, demote=True).filter(rec)
        assert rec.levelno == logging.DEBUG and rec.levelname == "DEBUG" and UPLOAD_ID not in rec.getMessage()
    finally:
        root.setLevel(old)


def test_gemini_error_texts_carry_no_upload_id() -> None:
    assert UPLOAD_ID not in redact(f"POST {SESSION_URL}: boom")
    exc = from_transport(OSError(f"connection reset at {SESSION_URL}"), what="upload chunk")
    assert UPLOAD_ID not in str(exc) and "connection reset" in str(exc)
