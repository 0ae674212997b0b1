"""Our resumable client against the emulator: results, and every failure as a :mod:`gemini.errors` type."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from focalpoint_upload.gemini.emulator import EmulatorServer
from focalpoint_upload.gemini.errors import GeminiPermanent, GeminiTransient, SessionGone
from focalpoint_upload.gemini.resumable import ResumableClient
from tests.gemini.conftest import GRANULE


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[ResumableClient]:
    with ResumableClient(api_key=server.api_key, base_url=server.base_url, timeout_s=2) as c:
        yield c


def test_round_trip(server: EmulatorServer, client: ResumableClient) -> None:
    session = client.start(2 * GRANULE + 3, "video/mp4", "clip")
    assert session.granularity == GRANULE
    assert client.query(session.url).size_received == 0
    mid = client.upload_chunk(session.url, 0, b"a" * 2 * GRANULE, finalize=False)
    assert (mid.status, mid.size_received, mid.file) == ("active", 2 * GRANULE, None)
    status = client.query(session.url)
    assert (status.status, status.size_received, status.granularity) == ("active", 2 * GRANULE, GRANULE)
    done = client.upload_chunk(session.url, 2 * GRANULE, b"b" * 3, finalize=True)
    assert done.status == "final" and done.file is not None
    assert done.file.size_bytes == 2 * GRANULE + 3 and done.file.state == "ACTIVE"
    final = client.query(session.url)
    assert final.status == "final" and final.file == done.file
    keys = [e for e in server.emulator.log() if e["route"] != "start"]
    assert keys and all(e["route"] in ("chunk", "finalize", "query") for e in keys)


def test_api_key_only_on_start(server: EmulatorServer) -> None:
    with ResumableClient(api_key="wrong", base_url=server.base_url) as bad:
        with pytest.raises(GeminiPermanent) as info:
            bad.start(1, "video/mp4")
        assert info.value.code == "api_key_invalid"


def test_offset_mismatch_and_granularity_are_permanent(client: ResumableClient) -> None:
    url = client.start(3 * GRANULE, "video/mp4").url
    with pytest.raises(GeminiPermanent) as info:
        client.upload_chunk(url, GRANULE, b"x" * GRANULE, finalize=False)
    assert info.value.code == "invalid_argument" and info.value.status == 400
    with pytest.raises(GeminiPermanent):
        client.upload_chunk(url, 0, b"x" * (GRANULE - 1), finalize=False)


def test_cancel_and_expiry_are_session_gone(server: EmulatorServer, client: ResumableClient) -> None:
    url = client.start(2 * GRANULE, "video/mp4").url
    client.cancel(url)
    with pytest.raises(SessionGone):
        client.query(url)
    with pytest.raises(SessionGone):
        client.upload_chunk(url, 0, b"x" * GRANULE, finalize=False)
    client.cancel(url)  # idempotent
    other = client.start(2 * GRANULE, "video/mp4").url
    server.emulator.expire_session()
    with pytest.raises(SessionGone):
        client.query(other)
    with pytest.raises(SessionGone):
        client.upload_chunk(other, 0, b"x" * GRANULE, finalize=False)


def test_429_retry_hints(server: EmulatorServer, client: ResumableClient) -> None:
    server.emulator.add_fault("error", "start", status=429, retry_after=2, retry_delay=5)
    with pytest.raises(GeminiTransient) as info:
        client.start(1, "video/mp4")
    assert info.value.retry_after == 5.0
    server.emulator.add_fault("error", "start", status=429, quota_id="FilesPerDayPerProject")
    with pytest.raises(GeminiPermanent) as perm:
        client.start(1, "video/mp4")
    assert perm.value.code == "quota_exhausted"


def test_too_large_and_storage_quota(server: EmulatorServer, client: ResumableClient) -> None:
    server.emulator.configure(max_file_bytes=GRANULE, project_bytes=GRANULE)
    with pytest.raises(GeminiPermanent) as info:
        client.start(GRANULE + 1, "video/mp4")
    assert info.value.code == "invalid_argument"
    url = client.start(GRANULE, "video/mp4").url
    client.upload_chunk(url, 0, b"x" * GRANULE, finalize=True)
    with pytest.raises(GeminiPermanent) as quota:
        client.start(1, "video/mp4")
    assert quota.value.code == "quota_exhausted"


@pytest.mark.parametrize("fault", [{"kind": "error", "status": 503}, {"kind": "drop_request", "after_bytes": 10},
                                   {"kind": "drop_response"}, {"kind": "stall", "seconds": 0.5}])
def test_transient_chunk_failures(server: EmulatorServer, fault: dict[str, object]) -> None:
    with ResumableClient(api_key=server.api_key, base_url=server.base_url, timeout_s=0.1) as client:
        url = client.start(2 * GRANULE, "video/mp4").url
        params = dict(fault)
        server.emulator.add_fault(str(params.pop("kind")), "chunk", **params)
        with pytest.raises(GeminiTransient):
            client.upload_chunk(url, 0, b"x" * GRANULE, finalize=False)


def test_unreachable_server_is_transient() -> None:
    with ResumableClient(api_key="k", base_url="http://127.0.0.1:9", timeout_s=1) as client, \
            pytest.raises(GeminiTransient):
        client.start(1, "video/mp4")
