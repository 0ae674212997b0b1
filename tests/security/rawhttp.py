"""Raw-socket HTTP for the attack replays: pipelined requests, ``Expect: 100-continue``, reading every
response a connection gives back (what http.client hides)."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Conn:
    """One keep-alive connection; ``read_answer`` parses exactly one response (Content-Length framed)."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def read_answer(self, head_request: bool = False) -> Answer:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before an answer; got {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = 0 if head_request or 100 <= status < 200 else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            if not self._fill():
                raise ConnectionError("closed inside a body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return Answer(status, headers, body)

    def nothing_more(self) -> bool:
        """True if the server sent nothing further before closing (or within the timeout)."""
        if self.buf:
            return False
        self.sock.settimeout(0.3)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return True
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def head_of(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
