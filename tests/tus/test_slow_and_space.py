"""Slow clients, the concurrent-upload cap and look-ahead space on the resumable endpoints, as on
POST /api/upload -- except that a resumable upload cut for being too slow keeps the bytes it received: the client
HEADs and resumes. Real sockets, real Redis; the minimum-rate window runs on a clock the test moves."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

import redis

from focalpoint_upload.frontdoor.space import FIRST_STEP, outstanding
from tests.helpers.http import Response, attempt_id, request, upload_raw
from tests.helpers.service import RunningService
from tests.helpers.wait import wait_for
from tests.security.test_slow_clients import answered, drive_until, request_tasks, with_fake_rate_clock

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
BODY = "application/offset+octet-stream"


def create(svc: RunningService, length: int, **headers: str) -> str:
    r = request(svc.port, "POST", "/api/uploads", {**TUS, "Upload-Length": str(length),
                                                   "Upload-Metadata": "filetype dmlkZW8vbXA0", **headers})
    assert r.status == 201, r.body
    return str(r.headers["location"])


def patch(svc: RunningService, location: str, offset: int, body: bytes) -> Response:
    return request(svc.port, "PATCH", location, {**TUS, "Upload-Offset": str(offset), "Content-Type": BODY}, body)


def open_patch(svc: RunningService, location: str, offset: int, length: int) -> socket.socket:
    """A PATCH whose headers declare ``length`` body bytes; the test sends them (or not) on the socket."""
    sock = socket.create_connection(("127.0.0.1", svc.port), timeout=30)
    sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
                 f"Content-Type: {BODY}\r\nContent-Length: {length}\r\n\r\n".encode())
    return sock


def read_answer(sock: socket.socket) -> tuple[int, bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def part_size(svc: RunningService, location: str) -> int:
    part = Path(svc.service.settings.spool_dir) / (location.rsplit("/", 1)[1] + ".part")
    return part.stat().st_size if part.exists() else 0


def test_a_slow_patch_is_cut_408_but_keeps_its_bytes_and_the_upload_resumes(
        make_service: Callable[..., RunningService]) -> None:
    svc = make_service(min_upload_rate_window_s=5.0)
    mono = with_fake_rate_clock(svc)
    data = os.urandom(6 * MiB)
    loc = create(svc, len(data))
    slow = open_patch(svc, loc, 0, len(data))
    slow.sendall(data[:2 * MiB])  # a good start does not carry a PATCH through a later window with nothing in it
    wait_for(lambda: part_size(svc, loc) >= MiB, what="the first bytes on disk")
    drive_until(mono, lambda: answered(slow), step=0.5)
    status, head, body = read_answer(slow)
    slow.close()
    assert status == 408 and json.loads(body)["error"]["code"] == "client_too_slow"
    assert b"tus-resumable: 1.0.0" in head.lower()
    wait_for(lambda: request_tasks(svc) == 0, what="no request task left behind by the cut PATCH")

    job = svc.store.get(loc.rsplit("/", 1)[1])
    assert job is not None and job.state == "SPOOLING" and job.error_code is None  # not failed: resumable
    offset = int(request(svc.port, "HEAD", loc, TUS).headers["upload-offset"])
    assert MiB <= offset <= 2 * MiB  # what it received is kept (what the socket buffers held may be lost)
    done = patch(svc, loc, offset, data[offset:])
    assert done.status == 204 and done.headers["upload-offset"] == str(len(data))
    doc = request(svc.port, "GET", f"/api/upload/status?jobId={job.job_id}").json
    assert doc["state"] == "SPOOLED" and doc["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_slow_refused_patch_is_cut_instead_of_drained_forever(make_service: Callable[..., RunningService]) -> None:
    svc = make_service()
    mono = with_fake_rate_clock(svc)
    loc = create(svc, 100)
    refused = open_patch(svc, loc, 50, 10 * MiB)  # 409 once drained: the offset is 0
    refused.sendall(b"z")
    drive_until(mono, lambda: answered(refused))
    status, _, body = read_answer(refused)
    refused.close()
    assert status == 408 and json.loads(body)["error"]["code"] == "client_too_slow"
    assert request(svc.port, "HEAD", loc, TUS).headers["upload-offset"] == "0"


def test_a_streaming_patch_holds_an_upload_slot(make_service: Callable[..., RunningService],
                                                redis_client: redis.Redis, namespace: str) -> None:
    svc = make_service(max_uploads_per_ip=1)
    slots_key = f"{namespace}:uploads:concurrent:ip:127.0.0.1"
    data = os.urandom(4 * MiB)
    loc = create(svc, len(data))
    other = create(svc, 10)  # a creation without a body streams nothing: it takes no slot
    assert redis_client.zcard(slots_key) == 0
    holder = open_patch(svc, loc, 0, len(data))
    holder.sendall(data[:MiB])
    wait_for(lambda: redis_client.zcard(slots_key) == 1, what="the streaming PATCH's slot")

    refused = patch(svc, other, 0, b"0123456789")
    assert refused.status == 429 and refused.json["error"]["code"] == "too_many_uploads"
    assert refused.headers["retry-after"] == "5"
    assert upload_raw(svc.port, 1000, attempt_id()).status == 429  # one cap for every way in
    with_body = request(svc.port, "POST", "/api/uploads", {**TUS, "Upload-Length": "10", "Content-Type": BODY},
                        b"0123456789")
    assert with_body.status == 429 and "location" not in with_body.headers  # nothing was created
    assert request(svc.port, "HEAD", other, TUS).headers["upload-offset"] == "0"

    holder.sendall(data[MiB:])
    status, _, _ = read_answer(holder)
    holder.close()
    assert status == 204
    wait_for(lambda: redis_client.zcard(slots_key) == 0, what="the finished PATCH's slot given back")
    assert patch(svc, other, 0, b"0123456789").status == 204


def test_a_patch_holds_only_its_look_ahead_and_one_that_cannot_fit_is_507(
        make_service: Callable[..., RunningService]) -> None:
    svc = make_service(spool_cap_bytes=8 * MiB, min_free_bytes=0)
    first, second = create(svc, 6 * MiB), create(svc, 6 * MiB)  # each fits alone when it is created
    holder = open_patch(svc, first, 0, 6 * MiB)
    holder.sendall(b"a" * 1000)
    wait_for(lambda: svc.frontdoor.inflight, what="the PATCH streaming")
    assert outstanding(svc.frontdoor.inflight) <= FIRST_STEP  # not the 6 MiB it declared
    holder.sendall(b"a" * (6 * MiB - 1000))
    assert read_answer(holder)[0] == 204
    holder.close()

    full = patch(svc, second, 0, b"b" * (6 * MiB))  # 6 MiB spooled + 6 MiB > the 8 MiB cap
    assert full.status == 507 and full.json["error"]["code"] == "insufficient_storage"
    assert request(svc.port, "HEAD", second, TUS).headers["upload-offset"] == "0"  # still resumable
    assert patch(svc, second, 0, b"b" * MiB).headers["upload-offset"] == str(MiB)  # what fits is taken

