"""Every fault kind on the wire, its counter and its log entry; the HTTP control endpoints."""

from __future__ import annotations

import hashlib
import time

import httpx2
import pytest

from focalpoint_upload.gemini.emulator import EmulatorServer
from focalpoint_upload.gemini.model import sha256_hex
from tests.conftest import FakeClock
from tests.gemini.conftest import GRANULE, send, start


def url_for(http: httpx2.Client, srv: EmulatorServer, size: int) -> str:
    return str(start(http, srv, size).headers["x-goog-upload-url"])


def received(http: httpx2.Client, url: str) -> int:
    return int(send(http, url, "query").headers["x-goog-upload-size-received"])


def test_429_with_retry_after_and_retry_info(server: EmulatorServer, http: httpx2.Client) -> None:
    fault = server.emulator.add_fault("error", "start", status=429, retry_after=7, retry_delay=3, times=2)
    for _ in range(2):
        r = start(http, server, 10)
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        err = r.json()["error"]
        assert err["status"] == "RESOURCE_EXHAUSTED"
        assert err["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]
    assert start(http, server, 10).status_code == 200
    assert fault.fired == 2 and server.emulator.fault_counts() == {"error": 2}
    assert [e["fault"] for e in server.emulator.log()] == ["error", "error", None]


def test_5xx_on_chosen_routes_only(server: EmulatorServer, http: httpx2.Client) -> None:
    server.emulator.add_fault("error", ["chunk"], status=500, times=3)
    url = url_for(http, server, 2 * GRANULE)
    assert [send(http, url, "upload", 0, b"x" * GRANULE).status_code for _ in range(3)] == [500, 500, 500]
    assert received(http, url) == 0  # a refused chunk commits nothing
    assert send(http, url, "upload", 0, b"x" * GRANULE).status_code == 200
    server.emulator.add_fault("error", "get", status=503, skip=1)
    key = {"x-goog-api-key": server.api_key}
    assert http.get(f"{server.base_url}/v1beta/files/nope", headers=key).status_code == 403  # skipped
    r = http.get(f"{server.base_url}/v1beta/files/nope", headers=key)
    assert r.status_code == 503 and r.json()["error"]["status"] == "UNAVAILABLE"


def test_drop_mid_chunk_keeps_whole_granules(server: EmulatorServer, http: httpx2.Client) -> None:
    server.emulator.add_fault("drop_request", "chunk", after_bytes=2 * GRANULE + 100)
    url = url_for(http, server, 8 * GRANULE)
    with pytest.raises(httpx2.TransportError):
        send(http, url, "upload", 0, b"x" * 4 * GRANULE)
    assert received(http, url) == 2 * GRANULE
    entry = server.emulator.log()[1]
    assert (entry["fault"], entry["status"], entry["committed"]) == ("drop_request", None, 2 * GRANULE)
    assert send(http, url, "upload", 2 * GRANULE, b"x" * 2 * GRANULE).status_code == 200


def test_chunk_committed_but_answer_dropped(server: EmulatorServer, http: httpx2.Client) -> None:
    server.emulator.add_fault("drop_response", "upload", times=2)
    url = url_for(http, server, 2 * GRANULE)
    with pytest.raises(httpx2.TransportError):
        send(http, url, "upload", 0, b"x" * GRANULE)
    assert received(http, url) == GRANULE
    with pytest.raises(httpx2.TransportError):
        send(http, url, "upload, finalize", GRANULE, b"x" * GRANULE)
    q = send(http, url, "query")
    assert q.headers["x-goog-upload-status"] == "final" and q.json()["file"]["sizeBytes"] == str(2 * GRANULE)
    assert len(server.emulator.files) == 1


def test_stall_abandoned_when_client_gives_up(server: EmulatorServer, http: httpx2.Client) -> None:
    server.emulator.add_fault("stall", "chunk", seconds=0.3)
    url = url_for(http, server, 2 * GRANULE)
    with pytest.raises(httpx2.ReadTimeout):
        http.post(url, headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"},
                  content=b"x" * GRANULE, timeout=0.05)
    time.sleep(0.4)  # a real server: let the stalled handler wake up and find its client gone
    assert received(http, url) == 0
    server.emulator.add_fault("stall", "query", seconds=0.1)
    began = time.monotonic()
    assert received(http, url) == 0
    assert time.monotonic() - began >= 0.1  # a patient client gets its answer


def test_expire_session_fault(server: EmulatorServer, http: httpx2.Client) -> None:
    server.emulator.add_fault("expire_session", "chunk", skip=1)
    url = url_for(http, server, 3 * GRANULE)
    assert send(http, url, "upload", 0, b"x" * GRANULE).status_code == 200
    gone = send(http, url, "upload", GRANULE, b"x" * GRANULE)
    assert gone.status_code == 404 and gone.json()["error"]["status"] == "NOT_FOUND"
    assert send(http, url, "query").status_code == 404


def test_processing_never_ends(server: EmulatorServer, http: httpx2.Client, clock: FakeClock) -> None:
    server.emulator.add_fault("processing_stuck")
    url = url_for(http, server, 5)
    name = send(http, url, "upload, finalize", 0, b"hello").json()["file"]["name"]
    clock.advance(48 * 3600 - 1)  # as long as the file lives
    got = http.get(f"{server.base_url}/v1beta/{name}", headers={"x-goog-api-key": server.api_key})
    assert got.json()["state"] == "PROCESSING"


def test_processing_failed_raw(server: EmulatorServer, http: httpx2.Client) -> None:
    server.emulator.add_fault("processing_failed", error_code=13, message="transcode failed")
    file = send(http, url_for(http, server, 1), "upload, finalize", 0, b"x").json()["file"]
    assert file["state"] == "FAILED" and file["error"] == {"code": 13, "message": "transcode failed"}


def test_http_control_endpoints(server: EmulatorServer, http: httpx2.Client) -> None:
    ctl = f"{server.base_url}/_emulator"
    assert http.get(f"{ctl}/health").json() == {"ok": True}
    fault = http.post(f"{ctl}/faults", json={"kind": "error", "routes": "start", "status": 503, "times": 1}).json()
    assert fault["routes"] == ["start"] and fault["fired"] == 0
    assert start(http, server, 1).status_code == 503
    state = http.get(f"{ctl}/faults").json()
    assert state["counts"] == {"error": 1} and state["faults"][0]["fired"] == 1
    assert http.post(f"{ctl}/faults", json={"kind": "nonsense"}).status_code == 400
    assert http.post(f"{ctl}/config", json={"processing_delay_s": 10}).json()["processing_delay_s"] == 10
    url = url_for(http, server, 1)
    name = send(http, url, "upload, finalize", 0, b"x").json()["file"]["name"]
    file_url = f"{server.base_url}/v1beta/{name}?key={server.api_key}"
    assert http.get(file_url).json()["state"] == "PROCESSING"
    http.post(f"{ctl}/advance", json={"seconds": 10})
    assert http.get(file_url).json()["state"] == "ACTIVE"
    http.post(f"{ctl}/processing", json={"name": name, "state": "FAILED", "error": {"code": 3, "message": "m"}})
    assert http.get(file_url).json()["error"] == {"code": 3, "message": "m"}
    other = url_for(http, server, 5)
    assert http.post(f"{ctl}/expire", json={}).json() == {"expired": 1}
    assert send(http, other, "query").status_code == 404
    log = http.get(f"{ctl}/log").json()["log"]
    assert log[0]["route"] == "start" and log[0]["status"] == 503 and log[0]["fault"] == "error"
    http.post(f"{ctl}/reset")
    assert http.get(f"{ctl}/log").json()["log"] == [] and http.get(f"{ctl}/faults").json()["faults"] == []


def test_corrupt_bytes_stores_other_bytes_and_answers_as_usual(server: EmulatorServer, http: httpx2.Client) -> None:
    fault = server.emulator.add_fault("corrupt_bytes")  # default routes: chunk and finalize
    assert fault.routes == ("chunk", "finalize")
    data = b"a" * GRANULE + b"b" * 10
    url = url_for(http, server, len(data))
    assert send(http, url, "upload", 0, data[:GRANULE]).status_code == 200  # corrupted, not refused
    final = send(http, url, "upload, finalize", GRANULE, data[GRANULE:])
    assert final.status_code == 200 and final.headers["x-goog-upload-status"] == "final"
    file = final.json()["file"]
    assert int(file["sizeBytes"]) == len(data)
    stored = bytes([data[0] ^ 0xFF]) + data[1:]
    assert sha256_hex(file["sha256Hash"]) == hashlib.sha256(stored).hexdigest()
    assert fault.fired == 1 and server.emulator.fault_counts() == {"corrupt_bytes": 1}
