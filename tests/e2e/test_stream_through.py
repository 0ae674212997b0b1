"""Stream-through end to end: tus PATCHes into the real service with real in-process workers, the emulator as
Gemini. Gemini has bytes before the last PATCH; the job ends ACTIVE with one file of the right bytes; a cancel
or an expiry mid-stream cancels the Gemini session and leaves no file."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from focalpoint_upload.gemini.emulator import EmulatorServer
from tests.helpers.http import request
from tests.helpers.wait import wait_for

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
VIDEO = "filename Y2xpcC5tcDQ=,filetype dmlkZW8vbXA0"  # clip.mp4, video/mp4


def create(port: int, length: int) -> str:
    r = request(port, "POST", "/api/uploads", {**TUS, "Upload-Length": str(length), "Upload-Metadata": VIDEO})
    assert r.status == 201, r.body
    return str(r.headers["location"])


def patch(port: int, location: str, offset: int, body: bytes) -> None:
    r = request(port, "PATCH", location, {**TUS, "Upload-Offset": str(offset),
                                          "Content-Type": "application/offset+octet-stream"}, body)
    assert r.status == 204, r.body
    assert int(r.headers["upload-offset"]) == offset + len(body)


def status(port: int, job_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = request(port, "GET", f"/api/upload/status?jobId={job_id}").json
    return doc


def received_by_gemini(emulator: EmulatorServer) -> int:
    return sum(s.received for s in list(emulator.emulator.sessions.values()))


def test_a_tus_upload_in_pieces_reaches_gemini_before_its_last_patch(make_pipeline: Any,
                                                                     emulator: EmulatorServer) -> None:
    svc = make_pipeline()
    data = random.Random(3).randbytes(4 * MiB + 1000)
    loc = create(svc.port, len(data))
    job_id = loc.rsplit("/", 1)[1]
    pieces = [(o, data[o:o + MiB]) for o in range(0, len(data), MiB)]
    for offset, body in pieces[:-1]:
        patch(svc.port, loc, offset, body)
        wait_for(lambda o=offset: received_by_gemini(emulator) >= o + MiB - 256 * 1024,  # type: ignore[misc]
                 what="Gemini to have the durable bytes")
    doc = wait_for(lambda: (d := status(svc.port, job_id))["progress"]["bytesUploaded"] >= 3 * MiB and d)
    assert doc["state"] == "SPOOLING" and doc["streaming"] is True
    assert emulator.emulator.files == {}  # no file before the last byte
    patch(svc.port, loc, pieces[-1][0], pieces[-1][1])
    done = wait_for(lambda: (d := status(svc.port, job_id))["state"] in ("ACTIVE", "FAILED") and d, timeout=30)
    assert done["state"] == "ACTIVE", done
    assert done["streaming"] is False and done["sha256Verified"] is True
    [stored] = emulator.emulator.files.values()
    assert stored.size == len(data) and stored.sha256_hex == hashlib.sha256(data).hexdigest()
    assert len(emulator.emulator.sessions) == 1  # one session from the first streamed byte to the finalize


def test_termination_mid_stream_cancels_the_gemini_session(make_pipeline: Any, emulator: EmulatorServer) -> None:
    svc = make_pipeline()
    data = random.Random(4).randbytes(4 * MiB)
    loc = create(svc.port, len(data))
    patch(svc.port, loc, 0, data[:2 * MiB])
    wait_for(lambda: received_by_gemini(emulator) >= MiB, what="Gemini to have bytes")
    assert request(svc.port, "DELETE", loc, TUS).status == 204
    wait_for(lambda: all(s.state == "cancelled" for s in emulator.emulator.sessions.values()),
             what="the Gemini session to be cancelled",
             detail=lambda: f"{svc.frontdoor.store.get(loc.rsplit('/', 1)[1])} {emulator.emulator.log()[-5:]}")
    assert emulator.emulator.files == {}


def test_an_upload_that_expires_while_forwarding_cancels_the_gemini_session(make_pipeline: Any,
                                                                            emulator: EmulatorServer) -> None:
    svc = make_pipeline(upload_expiry_s=2.0, sweep_interval_s=0.5)
    data = random.Random(5).randbytes(4 * MiB)
    loc = create(svc.port, len(data))
    job_id = loc.rsplit("/", 1)[1]
    patch(svc.port, loc, 0, data[:2 * MiB])
    wait_for(lambda: received_by_gemini(emulator) >= MiB, what="Gemini to have bytes")
    # The stream's own writes to the record are no sign of life from the client: the upload still expires.
    doc = wait_for(lambda: (d := status(svc.port, job_id))["state"] == "FAILED" and d, timeout=20)
    assert doc["error"]["code"] == "upload_expired"
    wait_for(lambda: all(s.state == "cancelled" for s in emulator.emulator.sessions.values()),
             what="the Gemini session to be cancelled")
    assert emulator.emulator.files == {}
