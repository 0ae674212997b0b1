"""tuspy (a real tus client from PyPI) against the real service: chunked upload, resume from a stored URL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from tusclient import client as tus_client

from tests.helpers.http import request

MiB = 1024 * 1024


def _file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(size))
    return path


def test_tuspy_chunked_upload_spools_the_whole_file(make_service: Any, tmp_path: Path) -> None:
    svc = make_service()
    path = _file(tmp_path, 5 * MiB + 17)
    client = tus_client.TusClient(f"{svc.base_url}/api/uploads")
    uploader = client.uploader(str(path), chunk_size=MiB, metadata={"filename": "clip.mp4", "filetype": "video/mp4"})
    uploader.upload()
    job_id = uploader.url.rsplit("/", 1)[1]
    doc = request(svc.port, "GET", f"/api/upload/status?jobId={job_id}").json
    assert doc["state"] in {"SPOOLED", "UPLOADING", "PROCESSING", "ACTIVE"}, doc
    assert doc["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc["fileName"] == "clip.mp4" and doc["mimeType"] == "video/mp4"
    head = request(svc.port, "HEAD", f"/api/uploads/{job_id}", {"Tus-Resumable": "1.0.0"})
    assert head.status == 200
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(5 * MiB + 17)
