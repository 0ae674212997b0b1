"""A small HTTP client over raw sockets, for what ordinary clients hide: streaming a body in pieces,
stopping half-way, and timing the answer from the last byte sent."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

BLOCK = 1024 * 1024


def payload(size: int, seed: int = 1) -> Iterator[bytes]:
    """``size`` deterministic, incompressible-looking bytes in 1 MiB blocks (no big buffer in memory)."""
    base = hashlib.sha256(str(seed).encode()).digest() * (BLOCK // 32)
    sent = 0
    n = 0
    while sent < size:
        block = n.to_bytes(8, "big") + base[8:]
        piece = block[: min(BLOCK, size - sent)]
        sent += len(piece)
        n += 1
        yield piece


def payload_sha256(size: int, seed: int = 1) -> str:
    h = hashlib.sha256()
    for piece in payload(size, seed):
        h.update(piece)
    return h.hexdigest()


def attempt_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    ms_after_last_byte: float = 0.0
    json: Any = field(default=None)


def _read(conn: http.client.HTTPConnection, t_last: float) -> Response:
    resp = conn.getresponse()
    body = resp.read()
    took = (time.monotonic() - t_last) * 1000
    data = None
    if body and resp.getheader("Content-Type", "").startswith("application/json"):
        data = json.loads(body)
    return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, took, data)


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            body: bytes | Iterator[bytes] | None = None, timeout: float = 120) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        conn.putrequest(method, path, skip_accept_encoding=True)
        if isinstance(body, bytes):
            hdrs.setdefault("Content-Length", str(len(body)))
        elif body is not None and "Content-Length" not in hdrs:
            hdrs["Transfer-Encoding"] = "chunked"
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        chunked = hdrs.get("Transfer-Encoding") == "chunked"
        if isinstance(body, bytes):
            conn.send(body)
        elif body is not None:
            for piece in body:
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                conn.send(b"0\r\n\r\n")
        return _read(conn, time.monotonic())
    finally:
        conn.close()


def upload_raw(port: int, size: int, attempt: str, media_type: str = "video/mp4", seed: int = 1,
               file_name: str = "clip.mp4", extra: dict[str, str] | None = None) -> Response:
    headers = {"X-Attempt-Id": attempt, "Content-Type": media_type, "Content-Length": str(size),
               "X-File-Name": file_name, **(extra or {})}
    return request(port, "POST", "/api/upload", headers, payload(size, seed))


def multipart_parts(size: int, seed: int = 1, boundary: str = "fpboundary42", file_name: str = "clip.mp4",
                    media_type: str = "video/mp4") -> tuple[bytes, bytes, int]:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nmy clip\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n"
            f"Content-Type: {media_type}\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, len(head) + size + len(tail)


def upload_multipart(port: int, size: int, attempt: str, seed: int = 1, media_type: str = "video/mp4") -> Response:
    boundary = "fpboundary42"
    head, tail, total = multipart_parts(size, seed, boundary, media_type=media_type)

    def body() -> Iterator[bytes]:
        yield head
        yield from payload(size, seed)
        yield tail

    headers = {"X-Attempt-Id": attempt, "Content-Type": f"multipart/form-data; boundary={boundary}",
               "Content-Length": str(total)}
    return request(port, "POST", "/api/upload", headers, body())


class PartialUpload:
    """Send the headers and part of a body, then let the test decide: close, stall or finish."""

    def __init__(self, port: int, size: int, attempt: str, media_type: str = "video/mp4") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.size = size
        self.sent = 0
        self._blocks = payload(size)
        head = (f"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Attempt-Id: {attempt}\r\n"
                f"Content-Type: {media_type}\r\nContent-Length: {size}\r\n\r\n")
        self.sock.sendall(head.encode())

    def send(self, nbytes: int) -> None:
        while self.sent < nbytes:
            block = next(self._blocks)
            self.sock.sendall(block)
            self.sent += len(block)

    def finish(self) -> bytes:
        for block in self._blocks:
            self.sock.sendall(block)
            self.sent += len(block)
        chunks = []
        while True:
            data = self.sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def assert_not_answered_yet(sock: socket.socket, then_timeout: float) -> None:
    """Assert that nothing is answered within 0.4 s while the body is incomplete; then set ``then_timeout``."""
    sock.settimeout(0.4)
    try:
        early = sock.recv(100)
    except TimeoutError:
        early = b""
    assert early == b"", f"answered before the body was complete: {early!r}"
    sock.settimeout(then_timeout)


def answer_after_whole_body(port: int, headers: dict[str, str], size: int, tail: int = 10) -> bytes:
    """Send a request's headers and all but ``tail`` bytes of a ``size``-byte body; assert that no answer
    comes before the body is complete (a proxy answered early reports a 502); send the rest; return the
    answer's first bytes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"POST /api/upload HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {size}\r\n\r\n".encode())
        sock.sendall(b"z" * (size - tail))
        assert_not_answered_yet(sock, then_timeout=10)
        sock.sendall(b"z" * tail)
        return sock.recv(4096)
    finally:
        sock.close()
