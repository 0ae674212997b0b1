"""The resumable protocol and the REST routes on the wire, with a plain HTTP client."""

from __future__ import annotations

import hashlib

import httpx2
import pytest

from focalpoint_upload.gemini.emulator import EmulatorServer
from focalpoint_upload.gemini.model import sha256_hex
from tests.conftest import FakeClock
from tests.gemini.conftest import GRANULE, send, start


def upload_url(http: httpx2.Client, srv: EmulatorServer, size: int) -> str:
    r = start(http, srv, size)
    assert r.status_code == 200, r.text
    return r.headers["x-goog-upload-url"]


def test_start_hands_out_a_url_on_itself(server: EmulatorServer, http: httpx2.Client) -> None:
    r = start(http, server, 10, version="v1")
    assert r.headers["x-goog-upload-status"] == "active"
    assert r.headers["x-goog-upload-chunk-granularity"] == str(GRANULE)
    url = r.headers["x-goog-upload-url"]
    assert url.startswith(f"{server.base_url}/upload/v1/files?upload_id=")
    assert "x-goog-api-key" not in http.headers  # the URL alone is the capability
    done = send(http, url, "upload, finalize", 0, b"0123456789")
    assert done.status_code == 200 and done.headers["x-goog-upload-status"] == "final"
    file = done.json()["file"]
    assert file["sizeBytes"] == "10" and file["displayName"] == "clip" and file["mimeType"] == "video/mp4"
    assert file["state"] == "ACTIVE" and file["source"] == "UPLOADED" and file["createTime"].endswith("Z")
    assert sha256_hex(file["sha256Hash"]) == hashlib.sha256(b"0123456789").hexdigest()


@pytest.mark.parametrize("meta", [{"display_name": "a", "mime_type": "video/webm"},
                                  {"displayName": "a", "mimeType": "video/webm"}])
def test_start_accepts_snake_and_camel_case(server: EmulatorServer, http: httpx2.Client,
                                            meta: dict[str, str]) -> None:
    r = http.post(f"{server.base_url}/upload/v1beta/files?key={server.api_key}",
                  headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
                  json={"file": meta})
    assert r.status_code == 200, r.text
    file = send(http, r.headers["x-goog-upload-url"], "upload, finalize", 0, b"abc").json()["file"]
    assert file["displayName"] == "a" and file["mimeType"] == "video/webm"


def test_api_key_required_on_start_and_rest(server: EmulatorServer, http: httpx2.Client) -> None:
    base = server.base_url
    no_key = http.post(f"{base}/upload/v1beta/files", headers={"X-Goog-Upload-Protocol": "resumable",
                                                               "X-Goog-Upload-Command": "start"}, json={})
    assert no_key.status_code == 403 and no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    wrong = http.get(f"{base}/v1beta/files", headers={"x-goog-api-key": "nope"})
    assert wrong.status_code == 400 and wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert http.get(f"{base}/v1beta/files/abc").status_code == 403
    assert http.get(f"{base}/v1beta/files?key={server.api_key}").json() == {}


def test_query_offset_and_granularity(server: EmulatorServer, http: httpx2.Client) -> None:
    url = upload_url(http, server, 3 * GRANULE + 5)
    q = send(http, url, "query")
    assert (q.headers["x-goog-upload-status"], q.headers["x-goog-upload-size-received"]) == ("active", "0")
    odd = send(http, url, "upload", 0, b"x" * (GRANULE + 1))
    assert odd.status_code == 400 and "granularity" in odd.json()["error"]["message"]
    ok = send(http, url, "upload", 0, b"x" * (2 * GRANULE))
    assert ok.headers["x-goog-upload-size-received"] == str(2 * GRANULE)
    for wrong in (0, GRANULE, 3 * GRANULE):
        r = send(http, url, "upload", wrong, b"x" * GRANULE)
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert r.headers["x-goog-upload-size-received"] == str(2 * GRANULE)
    assert send(http, url, "query").headers["x-goog-upload-size-received"] == str(2 * GRANULE)
    short = send(http, url, "upload, finalize", 2 * GRANULE, b"x" * GRANULE)
    assert short.status_code == 400 and "declared size" in short.json()["error"]["message"]
    final = send(http, url, "upload, finalize", 2 * GRANULE, b"x" * (GRANULE + 5))
    assert final.status_code == 200
    q = send(http, url, "query")
    assert q.headers["x-goog-upload-status"] == "final" and q.json()["file"]["sizeBytes"] == str(3 * GRANULE + 5)
    again = send(http, url, "upload", 3 * GRANULE + 5, b"")
    assert again.status_code == 400


def test_cancel(server: EmulatorServer, http: httpx2.Client) -> None:
    url = upload_url(http, server, 2 * GRANULE)
    send(http, url, "upload", 0, b"x" * GRANULE)
    c = send(http, url, "cancel")
    assert c.status_code == 200 and c.headers["x-goog-upload-status"] == "cancelled"
    q = send(http, url, "query")
    assert q.status_code == 200 and q.headers["x-goog-upload-status"] == "cancelled"
    assert send(http, url, "upload", GRANULE, b"x" * GRANULE).status_code == 410


def test_session_expiry(server: EmulatorServer, http: httpx2.Client, clock: FakeClock) -> None:
    url = upload_url(http, server, 2 * GRANULE)
    send(http, url, "upload", 0, b"x" * GRANULE)
    assert server.emulator.expire_session(server.emulator.upload_id_of(url)) == 1
    assert send(http, url, "query").status_code == 404
    assert send(http, url, "upload", GRANULE, b"x" * GRANULE).status_code == 404
    # and by age
    aged = upload_url(http, server, GRANULE)
    clock.advance(server.emulator.config.session_ttl_s + 1)
    assert send(http, aged, "query").status_code == 404
    assert send(http, f"{server.base_url}/upload/v1beta/files?upload_id=bogus", "query").status_code == 404


def test_size_limits(server: EmulatorServer, http: httpx2.Client) -> None:
    server.emulator.configure(max_file_bytes=4 * GRANULE, project_bytes=6 * GRANULE)
    too_big = start(http, server, 4 * GRANULE + 1)
    assert too_big.status_code == 400 and too_big.json()["error"]["status"] == "INVALID_ARGUMENT"
    url = upload_url(http, server, 4 * GRANULE)
    assert send(http, url, "upload, finalize", 0, b"x" * 4 * GRANULE).status_code == 200
    full = start(http, server, 3 * GRANULE)
    assert full.status_code == 429
    err = full.json()["error"]
    assert err["status"] == "RESOURCE_EXHAUSTED" and err["details"][0]["@type"].endswith("QuotaFailure")


def test_list_paging_and_bad_token(server: EmulatorServer, http: httpx2.Client, clock: FakeClock) -> None:
    for i in range(3):
        clock.advance(1)
        send(http, upload_url(http, server, 1), "upload, finalize", 0, bytes([i]))
    key = {"x-goog-api-key": server.api_key}
    first = http.get(f"{server.base_url}/v1beta/files?pageSize=2", headers=key).json()
    assert len(first["files"]) == 2 and first["nextPageToken"]
    rest = http.get(f"{server.base_url}/v1beta/files?pageSize=2&pageToken={first['nextPageToken']}", headers=key)
    assert len(rest.json()["files"]) == 1 and "nextPageToken" not in rest.json()
    bad = http.get(f"{server.base_url}/v1beta/files?pageToken=garbage", headers=key)
    assert bad.status_code == 400


def test_unknown_route_is_a_google_404(server: EmulatorServer, http: httpx2.Client) -> None:
    r = http.get(f"{server.base_url}/v1beta/models")
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
