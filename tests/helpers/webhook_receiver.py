"""A webhook receiver on 127.0.0.1 that verifies every request with the ``standardwebhooks`` library (what a
FocalPoint app would run) and answers with scripted statuses (then 200)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    payload: Any  # the verified, parsed JSON; None when the signature did not verify
    status: int  # what the receiver answered


class WebhookReceiver:
    def __init__(self, secret: str, statuses: list[int] | None = None) -> None:
        self.secret = secret
        self.statuses = list(statuses or [])
        self.received: list[Received] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                except WebhookVerificationError:
                    payload = None
                with receiver.cond:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    if payload is None:
                        status = 400
                    receiver.received.append(Received(headers, body, payload, status))
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/focalpoint"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until ``count`` requests arrived (a condition variable, not a sleep); returns them all."""
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"only {len(self.received)} webhook requests arrived, wanted {count}")
            return list(self.received)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
