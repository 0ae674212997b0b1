"""Two front doors on one Redis and one spool directory: PATCHes of one upload alternate between them, and two
concurrent PATCHes for one upload never both write (the newer takes over; the older keeps what it had)."""

from __future__ import annotations

import hashlib
import socket
from typing import Any

from tests.helpers.http import request
from tests.helpers.wait import wait_for
from tests.tus.test_protocol_http import TUS, create, patch

MiB = 1024 * 1024


def test_patches_alternating_between_two_front_doors_complete_the_upload(make_service: Any) -> None:
    a, b = make_service(), make_service()
    assert a.service.settings.spool_dir == b.service.settings.spool_dir
    pieces = [bytes([i]) * (MiB + i) for i in range(4)]
    total = sum(len(p) for p in pieces)
    loc = create(a.port, total).headers["location"]
    offset = 0
    for i, piece in enumerate(pieces):
        door = (a, b)[i % 2]  # every PATCH lands on the other door: it re-hashes the prefix from the file
        r = patch(door.port, loc, offset, piece)
        offset += len(piece)
        assert r.status == 204 and r.headers["upload-offset"] == str(offset), r.body
    doc = request(b.port, "GET", f"/api/upload/status?jobId={loc.rsplit('/', 1)[1]}").json
    assert doc["state"] == "SPOOLED" and doc["sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert request(a.port, "HEAD", loc, TUS).headers["upload-offset"] == str(total)


def test_a_patch_on_the_other_door_takes_over_and_the_two_never_both_write(make_service: Any) -> None:
    a, b = make_service(), make_service()
    loc = create(a.port, 4 * MiB).headers["location"]
    job_id = loc.rsplit("/", 1)[1]
    part = a.service.settings.spool_dir / f"{job_id}.part"
    sock = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    try:  # door A: a PATCH that has sent a quarter of its body and then goes quiet
        sock.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                     f"Content-Type: application/offset+octet-stream\r\nContent-Length: {4 * MiB}\r\n\r\n".encode())
        first = b"a" * (MiB + 7)
        sock.sendall(first)
        wait_for(lambda: part.exists() and part.stat().st_size >= MiB, what="door A writing")
        # Door B: a second PATCH at offset 0. It takes the upload over; A stops and keeps what it received,
        # so B's offset is now wrong (409 naming A's end), and not one byte of B's was written.
        late = patch(b.port, loc, 0, b"b" * 100)
        assert late.status == 409 and late.headers["upload-offset"] == str(len(first)), late.body
        sock.settimeout(10)
        assert sock.recv(100) == b""  # A's request was ended
        rest = b"c" * (4 * MiB - len(first))
        done = patch(b.port, loc, len(first), rest)
        assert done.status == 204 and done.headers["upload-offset"] == str(4 * MiB)
        doc = request(a.port, "GET", f"/api/upload/status?jobId={job_id}").json
        assert doc["sha256"] == hashlib.sha256(first + rest).hexdigest()
    finally:
        sock.close()
