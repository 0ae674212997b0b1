"""Issue 11, section 4: client file names go through ONE sanitiser (``frontdoor.filename.clean_file_name``)
whatever way they come in: a base name only, no control/format/bidi/separator characters, bounded length.
A property test pins the sanitiser; HTTP replays pin every way in (multipart ``filename``, raw ``X-File-Name``)
down to what the status shows and what Gemini is sent as the display name."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from focalpoint_upload.frontdoor.filename import MAX_CHARS, clean_file_name
from tests.e2e.test_pipeline import wait_state
from tests.helpers.http import attempt_id, request, upload_raw
from tests.helpers.service import RunningService

DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}

# (what the attacker sends, what may be stored, shown and sent on)
ATTACKS = [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("a\x00b.mp4", "ab.mp4"),
    ("a\rb.mp4", "ab.mp4"),
    ("\x1b[31mred\x1b[0m.mp4", "red.mp4"),
    ("\x1b]0;pwned\x07t.mp4", "t.mp4"),
    ("invoice\u202e4pm.exe", "invoice4pm.exe"),
    ("c1\x85\x9b\x9f.mp4", "c1.mp4"),
    ("line\u2028sep\u2029.mp4", "linesep.mp4"),
    ("del\x7f.mp4", "del.mp4"),
    ("zero\u200bwidth\ufeff.mp4", "zerowidth.mp4"),
    ("iso\u2066late\u2069.mp4", "isolate.mp4"),
    ("x" * 400 + ".mp4", "x" * (MAX_CHARS - 4) + ".mp4"),
    ("caf\u00e9 clip.mp4", "caf\u00e9 clip.mp4"),
]
IDS = [f"attack{i}" for i in range(len(ATTACKS))]


# --- the sanitiser itself ------------------------------------------------------------------------------------
@given(st.text(max_size=600))
@example("\x1b\x1b[31m[31m")
@example("a/" + "\u0301" * 300)
@example(" " * 10 + "." + "b" * 300)
def test_the_result_is_always_a_safe_base_name(raw: str) -> None:
    name = clean_file_name(raw)
    if name is None:
        return
    assert name not in ("", ".", "..")
    assert "/" not in name and "\\" not in name
    assert not any(unicodedata.category(c) in DROPPED for c in name)
    assert "\x1b" not in name
    assert 0 < len(name) <= MAX_CHARS
    assert name == name.strip()
    assert clean_file_name(name) == name  # idempotent: the tus endpoint may clean a cleaned name again


@given(st.lists(st.text(max_size=30), max_size=4), st.text(max_size=60))
@example(["\x1b["], "m")
def test_only_the_last_path_part_counts(dirs: list[str], base: str) -> None:
    for sep in ("/", "\\"):
        path = sep.join([*dirs, base])
        assert clean_file_name(path) == clean_file_name(base.replace("\\", "/").rsplit("/", 1)[-1])


SAFE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.()", min_size=1,
               max_size=MAX_CHARS)


@given(SAFE)
def test_ordinary_names_are_kept_as_they_are(name: str) -> None:
    expected = None if name in (".", "..") else name
    assert clean_file_name(name) == expected


@given(st.text(min_size=1, max_size=40), st.sampled_from(["\x00", "\r", "\n", "\x7f", "\x85", "\u202e", "\u2028",
                                                        "\u200f", "\x1b", "\u2067"]))
def test_a_control_or_bidi_character_never_survives(text: str, bad: str) -> None:
    name = clean_file_name(text[: len(text) // 2] + bad + text[len(text) // 2:])
    assert name is None or bad not in name


@pytest.mark.parametrize(("raw", "clean"), ATTACKS, ids=IDS)
def test_the_attack_names(raw: str, clean: str) -> None:
    assert clean_file_name(raw) == clean


# --- every way in, through HTTP -------------------------------------------------------------------------------
def multipart_upload(port: int, att: str, file_name: str) -> Any:
    head = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + file_name.encode("utf-8")
            + b'"\r\nContent-Type: video/mp4\r\n\r\n')
    body = head + b"0123456789" + b"\r\n--b--\r\n"
    headers = {"X-Attempt-Id": att, "Content-Type": "multipart/form-data; boundary=b"}
    return request(port, "POST", "/api/upload", headers, body)


def shown_and_stored(svc: RunningService, job_id: str) -> tuple[str | None, str | None]:
    doc = request(svc.port, "GET", f"/api/upload/status?jobId={job_id}").json
    return doc["fileName"], svc.store.get(job_id).file_name


@pytest.mark.parametrize(("raw", "clean"), ATTACKS, ids=IDS)
def test_multipart_file_names_are_cleaned(service: RunningService, raw: str, clean: str) -> None:
    r = multipart_upload(service.port, attempt_id(), raw.replace('"', ""))
    assert r.status == 202, r.body
    assert shown_and_stored(service, r.json["jobId"]) == (clean, clean)


@pytest.mark.parametrize(("raw", "clean"), ATTACKS, ids=IDS)
def test_raw_header_file_names_are_cleaned(service: RunningService, raw: str, clean: str) -> None:
    r = upload_raw(service.port, 10, attempt_id(), file_name=quote(raw, safe=""))
    assert r.status == 202, r.body
    assert shown_and_stored(service, r.json["jobId"]) == (clean, clean)


def test_a_name_that_cleans_to_nothing_is_no_name(service: RunningService) -> None:
    r = upload_raw(service.port, 10, attempt_id(), file_name=quote("../\u202e\x00/..", safe=""))
    assert r.status == 202
    assert shown_and_stored(service, r.json["jobId"]) == (None, None)


def test_a_header_that_is_not_percent_encoded_utf8_is_400(service: RunningService) -> None:
    r = upload_raw(service.port, 10, attempt_id(), file_name="bad%FFname.mp4")
    assert r.status == 400
    assert r.json["error"]["code"] == "bad_file_name"


def test_gemini_is_sent_the_clean_name(make_pipeline, emulator) -> None:  # type: ignore[no-untyped-def]
    svc = make_pipeline()
    r = multipart_upload(svc.port, attempt_id(), "../../\x1b[31mevil\u202e4pm\x00.mp4")
    assert r.status == 202
    wait_state(svc.port, r.json["jobId"], {"ACTIVE", "FAILED"})
    names = [f.display_name for f in emulator.emulator.files.values()]
    assert names == ["evil4pm.mp4"]
