"""tus client of the benchmarks, run as its own process (never sharing a GIL with the server).

    python bench/_tus_send.py --port P --file F --chunk BYTES [--attempt ID] [--rate BYTES_PER_S]

Does what a real tus client does: ``POST /api/uploads`` (creation, ``Upload-Length``, ``Upload-Metadata``),
then one ``PATCH`` per chunk of ``--chunk`` bytes, all over ONE keep-alive connection, each body sent with
``os.sendfile`` from the (page-cached) file. Prints one JSON object: ``status`` (of the last PATCH),
``offset`` (its ``Upload-Offset``), ``job_id``, ``patches``, ``bytes``, and CLOCK_MONOTONIC times: ``t0``
connect, ``t_last`` the last byte of the final PATCH handed to the kernel, ``t_answer`` its answer read;
``patch_tails``: for every PATCH, seconds from its last byte handed to the kernel to its answer read (the
time the connection carries no body bytes: what a PATCH sequence costs over one request). ``--attempt`` sets
the ``X-Attempt-Id`` (default random) so another process can follow the job; ``--rate`` paces the PATCHes so
the average rate stays below it (a slower link than loopback; 0: as fast as it goes).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import sys
import time
import uuid
from typing import Any

from _send import read_head, send_range


def request(sock: socket.socket, method: str, path: str, headers: dict[str, str]) -> None:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def upload(port: int, file: str, chunk: int, attempt: str | None = None, rate: float = 0.0) -> dict[str, Any]:
    size = os.path.getsize(file)
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                    for k, v in (("filename", "clip.mp4"), ("filetype", "video/mp4")))
    t0 = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.settimeout(None)  # blocking: os.sendfile on a socket with a timeout fails with EAGAIN
    fd = os.open(file, os.O_RDONLY)
    try:
        request(sock, "POST", "/api/uploads", {"Tus-Resumable": "1.0.0", "Upload-Length": str(size),
                                               "Upload-Metadata": meta, "X-Attempt-Id": attempt or uuid.uuid4().hex,
                                               "Content-Length": "0"})
        status, headers, body = read_head(sock)
        if status != 201:
            return {"status": status, "body": body, "stage": "create"}
        path = "/" + headers["location"].split("/", 3)[3] if "://" in headers["location"] else headers["location"]
        offset, patches, t_last, tails = 0, 0, t0, []
        while offset < size:
            n = min(chunk, size - offset)
            if rate > 0:  # not before the link would have carried the bytes so far
                ahead = t0 + offset / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            request(sock, "PATCH", path, {"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                                          "Content-Type": "application/offset+octet-stream",
                                          "Content-Length": str(n)})
            send_range(sock, fd, offset, n, piece=n)
            t_last = time.monotonic()
            status, headers, body = read_head(sock)
            tails.append(time.monotonic() - t_last)
            patches += 1
            if status != 204:
                return {"status": status, "body": body, "stage": f"patch at {offset}"}
            offset = int(headers["upload-offset"])
        t_answer = time.monotonic()
    finally:
        os.close(fd)
        sock.close()
    return {"status": status, "offset": offset, "job_id": path.rsplit("/", 1)[1], "patches": patches,
            "patch_tails": tails, "bytes": size, "t0": t0, "t_last": t_last, "t_answer": t_answer}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--chunk", type=int, required=True)
    p.add_argument("--attempt", default=None)
    p.add_argument("--rate", type=float, default=0.0)
    a = p.parse_args()
    json.dump(upload(a.port, a.file, a.chunk, a.attempt, a.rate), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
