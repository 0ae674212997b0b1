"""tus-js-client 4.3.1 (npm, run under Node, unchanged) with both tus-v1 and ietf-draft-05 against the real
service: a chunked upload ends ACTIVE with one Gemini file; a new client process resumes a cut upload from its
stored URL without re-sending what the server had; a corrupted chunk gets 460; an expired upload gets 410; with
auth on, the token's user uploads and a stranger holding that user's upload URL gets 404 and a new upload."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import types

from focalpoint_upload.gemini.emulator import EmulatorServer
from tests.e2e.test_pipeline import wait_state
from tests.helpers.http import request
from tests.helpers.wait import wait_for
from tests.security.test_ownership import ALICE, BOB, SECRET
from tests.tus.slowlink import SlowLink

MiB = 1024 * 1024
PROTOCOLS = ["tus-v1", "ietf-draft-05"]


def _file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(size))
    return path


def _head(port: int, job_id: str, protocol: str) -> Any:
    return request(port, "HEAD", f"/api/uploads/{job_id}", _version(protocol))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("source", ["file", "stream"])
def test_a_chunked_upload_ends_active_with_one_gemini_file(tus_js: Any, make_pipeline: Any, emulator: EmulatorServer,
                                                          tmp_path: Path, protocol: str, source: str) -> None:
    svc = make_pipeline()
    path = _file(tmp_path, 6 * MiB + 123)
    events = tus_js(endpoint=f"{svc.base_url}/api/uploads", file=str(path), protocol=protocol, chunkSize=2 * MiB,
                    source=source)
    assert events[-1]["event"] == "success", events
    patches = [e for e in events if e["event"] == "response" and e["method"] == "PATCH"]
    assert [e["status"] for e in patches] == [204, 204, 204, 200 if protocol == "ietf-draft-05" else 204]
    job_id = events[-1]["url"].rsplit("/", 1)[1]
    doc = wait_state(svc.port, job_id, {"ACTIVE", "FAILED"})
    assert doc["state"] == "ACTIVE", doc
    assert doc["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc["progress"]["bytesUploaded"] == 6 * MiB + 123
    client = genai.Client(api_key=emulator.api_key,
                          http_options=types.HttpOptions(base_url=emulator.base_url, api_version="v1beta"))
    assert len(list(client.files.list())) == 1
    head = _head(svc.port, job_id, protocol)  # finished uploads keep answering HEAD (offset == length)
    assert head.status in (200, 204) and head.headers["upload-offset"] == str(6 * MiB + 123)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_cut_patch_is_resumed_by_a_new_process_from_its_stored_url(tus_js: Any, make_service: Any,
                                                                    tmp_path: Path, protocol: str) -> None:
    svc = make_service()
    size, chunk = 24 * MiB, 16 * MiB
    path, store = _file(tmp_path, size), str(tmp_path / "tus-urls.json")
    link = SlowLink(svc.port, 4 * MiB)  # a slow uplink: the second PATCH is on the wire when its client dies
    try:
        endpoint = f"http://127.0.0.1:{link.port}/api/uploads"
        first = tus_js.start(endpoint=endpoint, file=str(path), protocol=protocol, chunkSize=chunk, store=store)
        wait_for(lambda: link.delivered > chunk + 3 * MiB, timeout=30, what="half of the second PATCH")
        first.kill()
        first.wait(10)
        job_id = wait_for(lambda: _job_of(svc), what="the job")
        second = tus_js(endpoint=endpoint, file=str(path), protocol=protocol, chunkSize=chunk, store=store)
        assert second[0] == {"event": "resuming", "url": f"http://127.0.0.1:{link.port}/api/uploads/{job_id}"}
        assert second[-1]["event"] == "success", second
        resumed_at = next(e for e in second if e["event"] == "response" and e["method"] == "HEAD")["offset"]
        # Every byte the server received before the cut was kept (HEAD took the upload over from the cut
        # request, which wrote out what it had): the new process resumed inside the cut chunk, not at its
        # start, and sent only what the server did not have.
        delivered_before = link.delivered
        assert chunk + 3 * MiB < resumed_at <= delivered_before, (resumed_at, delivered_before)
        assert [e["offset"] for e in second if e["event"] == "request" and e["method"] == "PATCH"] == [resumed_at]
        assert link.delivered - delivered_before < size - resumed_at + 64 * 1024  # the body and a few headers
        doc = request(svc.port, "GET", f"/api/upload/status?jobId={job_id}").json
        assert doc["state"] != "SPOOLING" and doc["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    finally:
        link.close()


def _job_of(svc: Any) -> str | None:
    parts = list(svc.service.settings.spool_dir.glob("*.part"))
    return parts[0].name.removesuffix(".part") if parts else None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_corrupted_chunk_gets_460_and_its_bytes_are_dropped(tus_js: Any, make_service: Any, tmp_path: Path,
                                                             protocol: str) -> None:
    svc = make_service()
    path = _file(tmp_path, 3 * MiB)
    events = tus_js(endpoint=f"{svc.base_url}/api/uploads", file=str(path), protocol=protocol, chunkSize=MiB,
                    corruptAt=MiB)
    assert events[-1]["event"] == "error" and events[-1]["status"] == 460, events
    job_id = next(e["url"] for e in events if e["event"] == "url").rsplit("/", 1)[1]
    assert _head(svc.port, job_id, protocol).headers["upload-offset"] == str(MiB)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_expired_upload_gets_410(tus_js: Any, make_service: Any, tmp_path: Path, protocol: str) -> None:
    svc = make_service(upload_expiry_s=60.0)
    path = _file(tmp_path, 2 * MiB)
    created = request(svc.port, "POST", "/api/uploads", {**_version(protocol), "Upload-Length": str(2 * MiB),
                                                         "Upload-Metadata": "filetype dmlkZW8vbXA0"})
    assert created.status == 201, created.body
    job_id = created.headers["location"].rsplit("/", 1)[1]
    fd = svc.service.frontdoor
    now = time.time()
    fd.clock = lambda: now + 61  # the service's clock, moved past the expiry (no progress since creation)
    again = tus_js(uploadUrl=f"{svc.base_url}/api/uploads/{job_id}", file=str(path), protocol=protocol,
                   chunkSize=MiB, retryDelays=[])
    assert [e["status"] for e in again if e["event"] == "response"] == [410], again
    assert again[-1]["event"] == "error"
    doc = request(svc.port, "GET", f"/api/upload/status?jobId={job_id}").json
    assert doc["state"] == "FAILED" and doc["error"]["code"] == "upload_expired"
    patch = request(svc.port, "PATCH", f"/api/uploads/{job_id}", {**_version(protocol), "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream" if protocol == "tus-v1"
                    else "application/partial-upload"}, body=b"x" * 10)
    assert patch.status == 410 and patch.json["error"]["code"] == "upload_expired"


def _version(protocol: str) -> dict[str, str]:
    return {"Upload-Draft-Interop-Version": "6"} if protocol == "ietf-draft-05" else {"Tus-Resumable": "1.0.0"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_with_auth_on_the_owner_uploads_and_a_stranger_given_the_url_gets_an_upload_of_their_own(
        tus_js: Any, make_service: Any, tmp_path: Path, protocol: str) -> None:
    svc = make_service(auth_secret=SECRET)
    endpoint = f"{svc.base_url}/api/uploads"
    path = _file(tmp_path, 3 * MiB)
    anonymous = tus_js(endpoint=endpoint, file=str(path), protocol=protocol, chunkSize=MiB, retryDelays=[])
    assert anonymous[-1]["event"] == "error" and anonymous[-1]["status"] == 401, anonymous

    alice = tus_js(endpoint=endpoint, file=str(path), protocol=protocol, chunkSize=MiB, headers=ALICE)
    assert alice[-1]["event"] == "success", alice
    alice_url = alice[-1]["url"]
    alice_job = svc.store.get(alice_url.rsplit("/", 1)[1])
    assert alice_job.owner == "u:alice" and alice_job.state == "SPOOLED"

    # Bob's client holds alice's URL (a leaked or shared link): HEAD is 404, so it makes an upload of its own.
    bob = tus_js(endpoint=endpoint, uploadUrl=alice_url, file=str(path), protocol=protocol, chunkSize=MiB,
                 headers=BOB)
    assert bob[-1]["event"] == "success", bob
    responses = [(e["method"], e["status"]) for e in bob if e["event"] == "response"]
    assert responses[:2] == [("HEAD", 404), ("POST", 201)], responses
    assert bob[-1]["url"] != alice_url
    assert svc.store.get(bob[-1]["url"].rsplit("/", 1)[1]).owner == "u:bob"
    assert svc.store.get(alice_job.job_id).version == alice_job.version  # alice's upload untouched
