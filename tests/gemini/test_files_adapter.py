"""The SDK adapter: FileInfo out, google.genai errors translated."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from google import genai
from google.genai import types

from focalpoint_upload.gemini.emulator import EmulatorServer
from focalpoint_upload.gemini.errors import GeminiPermanent, GeminiTransient
from focalpoint_upload.gemini.files import GeminiFiles
from tests.conftest import FakeClock


@pytest.fixture
def files(server: EmulatorServer) -> Iterator[GeminiFiles]:
    adapter = GeminiFiles(api_key=server.api_key, base_url=server.base_url, timeout_s=2)
    yield adapter
    adapter.close()


def upload(server: EmulatorServer, data: bytes = b"x" * 100) -> str:
    client = genai.Client(api_key=server.api_key, http_options=types.HttpOptions(base_url=server.base_url))
    name = client.files.upload(file=io.BytesIO(data), config={"mime_type": "video/mp4"}).name
    assert name
    return name


def test_get_and_delete(server: EmulatorServer, files: GeminiFiles, clock: FakeClock) -> None:
    server.emulator.configure(processing_delay_s=5)
    name = upload(server)
    info = files.get(name)
    assert (info.name, info.state, info.size_bytes, info.error_message) == (name, "PROCESSING", 100, None)
    assert info.uri.endswith(name) and info.expiration_time is not None
    clock.advance(5)
    assert files.get(name).state == "ACTIVE"
    files.delete(name)
    with pytest.raises(GeminiPermanent) as info_err:
        files.get(name)
    assert info_err.value.code == "permission_denied" and info_err.value.status == 403
    with pytest.raises(GeminiPermanent):
        files.delete(name)
    files.delete(name, missing_ok=True)


def test_failed_file_carries_its_error(server: EmulatorServer, files: GeminiFiles) -> None:
    server.emulator.add_fault("processing_failed", message="unsupported codec")
    info = files.get(upload(server))
    assert info.state == "FAILED" and info.error_message == "unsupported codec"


def test_transient_errors(server: EmulatorServer, files: GeminiFiles) -> None:
    server.emulator.add_fault("error", "get", status=429, retry_after=4)
    with pytest.raises(GeminiTransient) as info:
        files.get("files/abc")
    assert info.value.retry_after == 4.0
    server.emulator.add_fault("error", "delete", status=503)
    with pytest.raises(GeminiTransient):
        files.delete("files/abc")
    server.emulator.add_fault("drop_response", "get")
    with pytest.raises(GeminiTransient):
        files.get("files/abc")
    assert server.emulator.fault_counts() == {"error": 2, "drop_response": 1}


def test_timeout_is_transient(server: EmulatorServer) -> None:
    server.emulator.add_fault("stall", "get", seconds=0.5)
    adapter = GeminiFiles(api_key=server.api_key, base_url=server.base_url, timeout_s=0.1)
    with pytest.raises(GeminiTransient):
        adapter.get("files/abc")
    adapter.close()
