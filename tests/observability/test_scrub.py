"""The scrubber on the shapes secrets take in events: URLs, header text, mappings, header lists, reprs."""

from __future__ import annotations

from observability.scrub import FILTERED, Scrubber
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
