"""300 MB uploads, raw and multipart: answered 202 right after the last byte, byte-identical on disk."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import pytest

from tests.helpers.http import attempt_id, payload_sha256, upload_multipart, upload_raw
from tests.helpers.service import RunningService
from tests.helpers.wait import wait_for

SIZE = 300 * 1000 * 1000


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * 1024 * 1024):
            h.update(block)
    return h.hexdigest()


@pytest.mark.parametrize("kind", ["raw", "multipart"])
def test_300mb_upload_is_answered_right_after_the_last_byte(service: RunningService, kind: str) -> None:
    send = upload_raw if kind == "raw" else upload_multipart
    r = send(service.port, SIZE, attempt_id(), seed=3)
    assert r.status == 202, r.body
    expected = payload_sha256(SIZE, seed=3)
    assert r.json["bytesReceived"] == SIZE
    assert r.json["sha256"] == expected
    spooled = service.service.settings.spool_dir / r.json["jobId"]
    assert spooled.stat().st_size == SIZE
    assert file_sha256(spooled) == expected
    # "Right after": only the fsync and rename of the spool stand between the last byte and the answer
    # (seconds, not the minutes of a Gemini round trip). Speed targets live in bench/, not here.
    assert r.ms_after_last_byte < 10_000


def test_one_structured_log_line_per_upload_request(service: RunningService,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="focalpoint.access")
    att = attempt_id()
    upload_raw(service.port, 1000, att)
    upload_raw(service.port, 1000, att)
    # The line is written in on_finish, just after the answer went out: give the IOLoop a moment.
    lines = wait_for(lambda: len(ls := [r for r in caplog.records if r.name == "focalpoint.access"]) >= 2 and ls)
    time.sleep(0.2)
    assert len([r for r in caplog.records if r.name == "focalpoint.access"]) == 2
    first, second = (r.fields for r in lines)  # type: ignore[attr-defined]
    for f in (first, second):
        assert f["attemptId"] == att
        assert f["bytesReceived"] == 1000
        assert f["lastByteAt"].endswith("Z")
        assert f["aborted"] is False and f["closed"] is False
        assert isinstance(f["durationMs"], float) and 0 <= f["durationMs"] < 60_000  # a measured time, not a default
        assert len(f["requestId"]) == 32
        json.dumps(f)
    assert (first["status"], first["outcome"]) == (202, "accepted")
    assert (second["status"], second["outcome"]) == (200, "replayed")
    assert first["jobId"] == second["jobId"]
