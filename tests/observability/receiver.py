"""A stand-in Sentry server: accepts envelopes at POST /api/<project>/envelope/ on 127.0.0.1 and keeps them.

Bodies are gunzipped when sent with ``Content-Encoding: gzip``; each envelope is parsed per the envelope
format (a header line, then items: a header line and a payload of ``length`` bytes or up to the newline).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers.wait import wait_for

_PATH = re.compile(r"^/api/(\d+)/envelope/?$")


@dataclass
class Envelope:
    raw: bytes
    header: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(payload) for head, payload in self.items if head.get("type") == "event"]


def parse_envelope(raw: bytes) -> Envelope:
    header_line, _, rest = raw.partition(b"\n")
    env = Envelope(raw, json.loads(header_line))
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        if not item_line.strip():
            continue
        head = json.loads(item_line)
        length = head.get("length")
        if length is not None:
            payload, rest = rest[:length], rest[length:]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload, _, rest = rest.partition(b"\n")
        env.items.append((head, payload))
    return env


class SentryReceiver:
    def __init__(self, project: int = 42) -> None:
        self.project = project
        self.envelopes: list[Envelope] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not _PATH.match(self.path):
                    self.send_response(404)
                    self.end_headers()
                    return
                try:
                    if self.headers.get("Content-Encoding", "") == "gzip":
                        body = gzip.decompress(body)
                    elif self.headers.get("Content-Encoding", "") not in ("", "identity"):
                        raise ValueError(f"unexpected encoding {self.headers.get('Content-Encoding')}")
                    envelope = parse_envelope(body)
                except Exception as exc:  # recorded and failed in the test
                    receiver.errors.append(repr(exc))
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver.envelopes.append(envelope)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.port}/{self.project}"

    def start(self) -> SentryReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e for env in self.envelopes for e in env.events()]

    def raw(self) -> bytes:
        with self._lock:
            return b"\n".join(env.raw for env in self.envelopes)

    def wait_for_events(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The events once ``n`` have arrived, or those that did within ``timeout`` (the caller judges)."""
        with contextlib.suppress(AssertionError):
            wait_for(lambda: len(self.events()) >= n, timeout, f"{n} Sentry events")
        return self.events()
