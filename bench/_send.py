"""Upload client of the benchmarks, run as its own process so that it never shares a GIL with a server.

    python bench/_send.py --port P --file F [--mode raw|multipart] [--parallel N] [--path /api/upload] [--xff IP]

The body goes out with ``os.sendfile`` from the (page-cached) file: the kernel copies, Python does not.
Prints a JSON list, one object per upload: status, body, bytes, and CLOCK_MONOTONIC times (comparable across
processes on Linux): ``t0`` connect, ``t_last`` the last body byte handed to the kernel, ``t_answer`` the
whole answer read.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
import uuid
from typing import Any

BOUNDARY = "fpbenchboundary7"


def upload(port: int, file: str, mode: str, path: str, xff: str | None, barrier: threading.Barrier | None
           ) -> dict[str, Any]:
    size = os.path.getsize(file)
    attempt = uuid.uuid4().hex
    headers = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"X-Attempt-Id: {attempt}"]
    head = tail = b""
    if mode == "multipart":
        head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nbench\r\n"
                f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.mp4\"\r\n"
                f"Content-Type: video/mp4\r\n\r\n").encode()
        tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        headers.append(f"Content-Type: multipart/form-data; boundary={BOUNDARY}")
    else:
        headers += ["Content-Type: video/mp4", "X-File-Name: clip.mp4"]
    headers.append(f"Content-Length: {len(head) + size + len(tail)}")
    if xff:
        headers.append(f"X-Forwarded-For: {xff}")
    request_head = ("\r\n".join(headers) + "\r\n\r\n").encode()
    if barrier is not None:
        barrier.wait()
    t0 = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.settimeout(None)  # blocking: os.sendfile on a socket with a timeout fails with EAGAIN
    fd = os.open(file, os.O_RDONLY)
    try:
        sock.sendall(request_head + head)
        send_range(sock, fd, 0, size, piece=64 * 1024 * 1024)
        if tail:
            sock.sendall(tail)
        t_last = time.monotonic()
        status, _, body = read_head(sock)
        t_answer = time.monotonic()
    finally:
        os.close(fd)
        sock.close()
    return {"status": status, "body": body, "bytes": len(head) + size + len(tail), "file_bytes": size,
            "t0": t0, "t_last": t_last, "t_answer": t_answer}


def send_range(sock: socket.socket, fd: int, start: int, n: int, piece: int) -> None:
    """Send bytes ``start`` .. ``start + n`` of the open file ``fd`` with ``os.sendfile``, at most ``piece`` bytes
    a call (the socket must be blocking: with a timeout, sendfile fails with EAGAIN)."""
    sent = 0
    while sent < n:
        k = os.sendfile(sock.fileno(), fd, start + sent, min(n - sent, piece))
        if k == 0:
            raise ConnectionError("sendfile sent nothing")
        sent += k


def read_head(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """One answer on a keep-alive connection: status, headers (lower-case names), body (JSON if any)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"connection closed before the answer: {buf[:200]!r}")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            break
        rest += data
    try:
        body = json.loads(rest) if rest else None
    except ValueError:
        body = rest[:200].decode("latin-1")
    return int(lines[0].split()[1]), headers, body


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--mode", choices=("raw", "multipart"), default="raw")
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--path", default="/api/upload")
    p.add_argument("--xff")
    a = p.parse_args()
    if a.parallel == 1:
        results = [upload(a.port, a.file, a.mode, a.path, a.xff, None)]
    else:
        barrier = threading.Barrier(a.parallel)
        results: list[Any] = [None] * a.parallel

        def run(i: int) -> None:
            try:
                results[i] = upload(a.port, a.file, a.mode, a.path, a.xff, barrier)
            except Exception as exc:  # reported, not raised: the others go on
                results[i] = {"status": 0, "error": repr(exc)}

        threads = [threading.Thread(target=run, args=(i,)) for i in range(a.parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
