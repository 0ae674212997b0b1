"""The emulator as a separate process, driven only over HTTP (as tests that kill workers will)."""

from __future__ import annotations

import io

import httpx2
from google import genai
from google.genai import types

from tests.gemini.process import EmulatorProcess


def test_subprocess_emulator_with_sdk_and_control_api() -> None:
    with EmulatorProcess() as emu, httpx2.Client(timeout=5) as http:
        ctl = f"{emu.base_url}/_emulator"
        assert http.get(f"{ctl}/health").json() == {"ok": True}
        http.post(f"{ctl}/config", json={"processing_delay_s": 3600})
        client = genai.Client(api_key=emu.api_key,
                              http_options=types.HttpOptions(base_url=emu.base_url, timeout=5000))
        f = client.files.upload(file=io.BytesIO(b"x" * 2000), config={"mime_type": "video/mp4"})
        assert f.name and f.state == types.FileState.PROCESSING
        http.post(f"{ctl}/advance", json={"seconds": 3600})
        assert client.files.get(name=f.name).state == types.FileState.ACTIVE
        assert [e["route"] for e in http.get(f"{ctl}/log").json()["log"]] == ["start", "finalize", "get"]
