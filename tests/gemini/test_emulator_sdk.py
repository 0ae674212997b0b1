"""The official google-genai SDK against the emulator: if they disagree, the emulator is wrong."""

from __future__ import annotations

import hashlib
import io

import pytest
from google import genai
from google.genai import errors, types

from focalpoint_upload.gemini.emulator import EmulatorServer
from focalpoint_upload.gemini.model import sha256_hex
from tests.conftest import FakeClock
from tests.helpers.aio import run_coro


def client_for(srv: EmulatorServer, version: str = "v1beta") -> genai.Client:
    return genai.Client(api_key=srv.api_key,
                        http_options=types.HttpOptions(base_url=srv.base_url, api_version=version, timeout=5000))


@pytest.mark.parametrize("version", ["v1beta", "v1", "v1alpha"])
def test_sync_upload_get_delete(server: EmulatorServer, version: str) -> None:
    client = client_for(server, version)
    data = b"video bytes " * 500
    uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "video/mp4", "display_name": "clip"})
    assert uploaded.name and uploaded.name.startswith("files/")
    assert uploaded.display_name == "clip"
    assert uploaded.mime_type == "video/mp4"
    assert uploaded.size_bytes == len(data)
    assert uploaded.state == types.FileState.ACTIVE
    assert uploaded.source == types.FileSource.UPLOADED
    assert uploaded.uri == f"{server.base_url}/{version}/files/{uploaded.name.removeprefix('files/')}"
    assert uploaded.create_time and uploaded.expiration_time
    assert (uploaded.expiration_time - uploaded.create_time).total_seconds() == 48 * 3600
    assert sha256_hex(uploaded.sha256_hash) == hashlib.sha256(data).hexdigest()

    got = client.files.get(name=uploaded.name)
    assert got.name == uploaded.name and got.size_bytes == len(data)
    client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as info:
        client.files.get(name=uploaded.name)
    assert info.value.code == 403 and info.value.status == "PERMISSION_DENIED"


def test_sdk_multi_chunk_upload_with_google_granularity(emulator: object, tmp_path: object) -> None:
    """The SDK sends 8 MiB chunks; with Google's 8 MiB granularity a 9 MiB file takes two."""
    from focalpoint_upload.gemini.emulator import Emulator, EmulatorConfig

    big = Emulator(EmulatorConfig(granularity=8 * 1024 * 1024))
    with EmulatorServer(big) as srv:
        data = bytes(range(256)) * (9 * 4096)
        client = client_for(srv)  # keep a reference: the SDK closes its pool when the Client is collected
        f = client.files.upload(file=io.BytesIO(data), config={"mime_type": "video/mp4"})
        assert f.size_bytes == len(data)
        assert [e["route"] for e in big.log()] == ["start", "chunk", "finalize"]
        assert sha256_hex(f.sha256_hash) == hashlib.sha256(data).hexdigest()


def test_upload_from_path_and_requested_name(server: EmulatorServer, tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "a.mp4"
    path.write_bytes(b"abc" * 100)
    client = client_for(server)
    f = client.files.upload(file=path, config={"name": "my-clip-1"})
    assert f.name == "files/my-clip-1" and f.mime_type == "video/mp4"
    with pytest.raises(errors.ClientError) as info:
        client.files.upload(file=path, config={"name": "my-clip-1"})
    assert info.value.code == 409


def test_list_pages(server: EmulatorServer, clock: FakeClock) -> None:
    client = client_for(server)
    names = set()
    for i in range(5):
        clock.advance(1)
        names.add(client.files.upload(file=io.BytesIO(b"x" * (i + 1)), config={"mime_type": "text/plain"}).name)
    pager = client.files.list(config={"page_size": 2})
    assert len(pager.page) == 2
    listed = [f.name for f in pager]
    assert set(listed) == names and len(listed) == 5
    assert [e["route"] for e in server.emulator.log()].count("list") == 3  # 2 + 2 + 1
    # newest first
    newest = max(server.emulator.files.values(), key=lambda f: f.created)
    assert listed[0] == f"files/{newest.file_id}"


def test_processing_then_active_and_failed(server: EmulatorServer, clock: FakeClock) -> None:
    server.emulator.configure(processing_delay_s=30)
    client = client_for(server)
    f = client.files.upload(file=io.BytesIO(b"x" * 10), config={"mime_type": "video/mp4"})
    assert f.state == types.FileState.PROCESSING and f.name
    assert client.files.get(name=f.name).state == types.FileState.PROCESSING
    clock.advance(30)
    assert client.files.get(name=f.name).state == types.FileState.ACTIVE

    server.emulator.add_fault("processing_failed", error_code=400, message="Video is corrupt")
    bad = client.files.upload(file=io.BytesIO(b"y" * 10), config={"mime_type": "video/mp4"})
    assert bad.state == types.FileState.PROCESSING and bad.name
    clock.advance(30)
    failed = client.files.get(name=bad.name)
    assert failed.state == types.FileState.FAILED
    assert failed.error and failed.error.message == "Video is corrupt" and failed.error.code == 400


def test_files_expire_after_48_hours(server: EmulatorServer, clock: FakeClock) -> None:
    client = client_for(server)
    f = client.files.upload(file=io.BytesIO(b"x"), config={"mime_type": "video/mp4"})
    assert f.name
    clock.advance(48 * 3600 - 1)
    client.files.get(name=f.name)
    clock.advance(1)
    with pytest.raises(errors.ClientError):
        client.files.get(name=f.name)
    assert list(client.files.list()) == []


def test_sdk_sees_google_errors(server: EmulatorServer) -> None:
    bad_key = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=server.base_url))
    with pytest.raises(errors.ClientError) as info:
        bad_key.files.upload(file=io.BytesIO(b"x"), config={"mime_type": "video/mp4"})
    assert info.value.code == 400 and "API key not valid" in (info.value.message or "")

    server.emulator.add_fault("error", "get", status=503)
    client = client_for(server)
    with pytest.raises(errors.ServerError) as err:
        client.files.get(name="files/whatever")
    assert err.value.code == 503 and err.value.status == "UNAVAILABLE"


def test_async_upload_get_list_delete(server: EmulatorServer) -> None:
    async def scenario() -> None:
        sync = client_for(server)
        client = sync.aio
        f = await client.files.upload(file=io.BytesIO(b"z" * 3000), config={"mime_type": "audio/mpeg"})
        assert f.name and f.size_bytes == 3000 and f.state == types.FileState.ACTIVE
        assert (await client.files.get(name=f.name)).mime_type == "audio/mpeg"
        for i in range(3):
            await client.files.upload(file=io.BytesIO(b"q" * (i + 1)), config={"mime_type": "text/plain"})
        pager = await client.files.list(config={"page_size": 2})
        seen = [x.name async for x in pager]
        assert len(seen) == 4 and f.name in seen
        await client.files.delete(name=f.name)
        with pytest.raises(errors.ClientError):
            await client.files.get(name=f.name)

    run_coro(scenario())


def test_sdk_sees_the_digest_of_the_stored_bytes_after_corruption(server: EmulatorServer) -> None:
    """``sha256_hash`` is a base64 str in the SDK's types; after ``corrupt_bytes`` it is not the sent data's."""
    server.emulator.add_fault("corrupt_bytes", "finalize")
    client = client_for(server)
    data = b"frame " * 1000
    uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "video/mp4"})
    assert isinstance(uploaded.sha256_hash, str)
    stored = bytes([data[0] ^ 0xFF]) + data[1:]
    assert sha256_hex(uploaded.sha256_hash) == hashlib.sha256(stored).hexdigest() != hashlib.sha256(data).hexdigest()
    assert uploaded.size_bytes == len(data) and uploaded.state == types.FileState.ACTIVE
