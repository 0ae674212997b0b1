"""SIGKILL the front door mid-PATCH and start it again: HEAD reports the durable offset, the client finishes
from there, and the sha256 of the spooled file matches."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

from focalpoint_upload.gemini.emulator import EmulatorServer
from tests.e2e.test_processes import env_for
from tests.helpers.http import request
from tests.helpers.procs import serve
from tests.helpers.wait import wait_for
from tests.tus.test_protocol_http import TUS, create, patch

MiB = 1024 * 1024


def test_a_front_door_killed_mid_patch_leaves_a_durable_offset_to_resume_from(
        tmp_path: Path, emulator: EmulatorServer, redis_url: str, namespace: str) -> None:
    env = env_for(tmp_path, emulator, redis_url, namespace)
    data = os.urandom(8 * MiB + 3)
    front, port = serve(env, tmp_path / "serve1.log")
    again = None
    try:
        loc = create(port, len(data)).headers["location"]
        job_id = loc.rsplit("/", 1)[1]
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                     f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n".encode())
        sent = 3 * MiB + 11
        sock.sendall(data[:sent])

        def recorded() -> int:
            return int(request(port, "GET", f"/api/upload/status?jobId={job_id}").json["progress"]["bytesReceived"])

        wait_for(lambda: recorded() >= 2 * MiB, what="progress recorded mid-PATCH")
        front.kill()
        sock.close()
        again, port = serve(env, tmp_path / "serve2.log")
        head = request(port, "HEAD", loc, TUS)  # waits for the dead door's lease to lapse, then takes it
        assert head.status == 200, head.body
        offset = int(head.headers["upload-offset"])
        assert 2 * MiB <= offset <= sent
        done = patch(port, loc, offset, data[offset:])
        assert done.status == 204 and done.headers["upload-offset"] == str(len(data))
        doc = request(port, "GET", f"/api/upload/status?jobId={job_id}").json
        assert doc["state"] == "SPOOLED" and doc["sha256"] == hashlib.sha256(data).hexdigest()
    finally:
        front.stop()
        if again is not None:
            assert again.stop() == 0
