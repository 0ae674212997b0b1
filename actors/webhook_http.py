"""The webhook sender port, its real adapter on httpx2 (the project's HTTP client) and an in-memory twin.

The adapter has bounded timeouts (FOCALPOINT_WEBHOOK_TIMEOUT for connect, write, read and pool), follows no
redirects (a signed event is not re-sent elsewhere) and translates httpx2's exceptions into
:class:`DeliveryFailed` here, whose message names only the kind of failure: never the URL (it may carry a
token) nor anything of the signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import httpx2


class DeliveryFailed(Exception):
    """No HTTP answer: connection refused, timeout, protocol error."""


class Sender(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` and return the answer's status. Raises :class:`DeliveryFailed` without an answer."""


class HttpSender:
    """Thread-safe (one httpx2 pool shared by the worker threads)."""

    def __init__(self, timeout_s: float, transport: httpx2.BaseTransport | None = None) -> None:
        self._http = httpx2.Client(timeout=httpx2.Timeout(timeout_s), follow_redirects=False, transport=transport)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        try:
            response = self._http.post(url, content=body, headers=headers)
            response.close()
        except httpx2.TimeoutException as exc:
            raise DeliveryFailed(f"timeout ({type(exc).__name__})") from None
        except (httpx2.TransportError, httpx2.InvalidURL) as exc:
            raise DeliveryFailed(f"no answer ({type(exc).__name__})") from None
        return int(response.status_code)

    def close(self) -> None:
        self._http.close()


@dataclass
class MemorySender:
    """The twin for unit tests: answers with ``statuses`` in turn (an int, or None for "no answer"), then 200,
    and keeps every request it got."""

    statuses: list[int | None] = field(default_factory=list)
    requests: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.requests.append((url, body, dict(headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        if status is None:
            raise DeliveryFailed("no answer (test)")
        return status
