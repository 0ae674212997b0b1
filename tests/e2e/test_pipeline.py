"""Upload -> 202 -> UPLOADING -> PROCESSING -> ACTIVE, end to end on the real service, workers and emulator."""

from __future__ import annotations

from typing import Any

from google import genai
from google.genai import types

from focalpoint_upload.gemini.emulator import EmulatorServer
from tests.helpers.http import attempt_id, request, upload_raw
from tests.helpers.wait import wait_for

MiB = 1024 * 1024


def wait_state(port: int, job_id: str, states: set[str], timeout: float = 30.0) -> dict[str, Any]:
    seen: list[dict[str, Any]] = [{}]

    def reached() -> dict[str, Any] | None:
        seen[0] = request(port, "GET", f"/api/upload/status?jobId={job_id}").json
        return seen[0] if seen[0]["state"] in states else None

    return wait_for(reached, timeout, f"job {job_id} in {sorted(states)}", interval=0.05,
                    detail=lambda: f"job stayed {seen[0].get('state')}: {seen[0]}")


def test_upload_reaches_active_with_a_file_the_sdk_can_get(make_pipeline: Any, emulator: EmulatorServer) -> None:
    emulator.emulator.configure(processing_delay_s=0.5)
    svc = make_pipeline()
    r = upload_raw(svc.port, 12 * MiB + 3, attempt_id())
    assert r.status == 202
    doc = wait_state(svc.port, r.json["jobId"], {"ACTIVE", "FAILED"})
    assert doc["state"] == "ACTIVE", doc
    assert doc["progress"]["bytesUploaded"] == 12 * MiB + 3
    assert doc["fileUri"].startswith(emulator.base_url)
    assert doc["expiresAt"]
    client = genai.Client(api_key=emulator.api_key,
                          http_options=types.HttpOptions(base_url=emulator.base_url, api_version="v1beta"))
    name = "files/" + doc["fileUri"].rsplit("/", 1)[-1]
    got = client.files.get(name=name)
    assert got.state == types.FileState.ACTIVE
    assert int(got.size_bytes or 0) == 12 * MiB + 3
    assert len(list(client.files.list())) == 1
    assert list(svc.service.settings.spool_dir.iterdir()) == []  # spool removed once ACTIVE
