"""Fault injection: what can go wrong, on which routes, how often, and how often it actually did.

A :class:`Fault` is matched against the *route* of each request (``start``, ``chunk`` = ``upload`` without
finalize, ``finalize``, ``query``, ``cancel``, ``get``, ``list``, ``delete``). Faults are consulted in the
order they were added; the first one on the route that is not used up counts the request (``seen``), lets
the first ``skip`` matching requests through, then fires ``times`` times (``None``: for ever). ``fired``
says how often it did. The book is not locked itself: :class:`~gemini.emulator.state.Emulator` holds its
lock around every call.

Kinds and what they mean on the wire:

``error``            answer ``status`` (429, 500, 503, ...) in Google's JSON error shape, with a
                     ``Retry-After`` header (``retry_after``) and/or a ``RetryInfo`` detail (``retry_delay``)
                     and/or a ``QuotaFailure`` detail (``quota_id``). Nothing is committed.
``drop_request``     close the connection after ``after_bytes`` bytes of the request body, without an
                     answer. On a chunk, the bytes received before the drop are committed *rounded down to
                     the chunk granularity*: Google's upload server persists what it received in whole
                     blocks and reports the persisted size through ``query``; a client must resume from
                     that, never from its own count.
``drop_response``    process the request completely (a chunk is committed, a finalize creates the file),
                     then close the connection without sending the answer.
``stall``            wait ``seconds`` before processing. If the client hung up meanwhile the request is
                     abandoned (nothing committed), as a front end would drop it; otherwise it proceeds.
``expire_session``   the upload session expires now; this and every later request on its URL answers 404
                     (``query`` too). Only meaningful on upload routes.
``processing_stuck`` (on ``finalize``) the file is created but stays PROCESSING for ever.
``processing_failed`` (on ``finalize``) the file is created and turns FAILED with ``{code, message}`` once
                     the processing delay has passed.
``corrupt_bytes``    (on ``chunk``/``finalize``) the request is accepted as usual, but one byte of what it
                     carried is flipped before it is stored, so the file's ``sha256Hash`` no longer matches
                     what the client sent (a silent corruption between client and storage).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

ROUTES: tuple[str, ...] = ("start", "chunk", "finalize", "query", "cancel", "get", "list", "delete")
ALIASES: dict[str, tuple[str, ...]] = {
    "*": ROUTES,
    "upload": ("chunk", "finalize"),
    "session": ("chunk", "finalize", "query", "cancel"),
    "rest": ("get", "list", "delete"),
}
KINDS: tuple[str, ...] = (
    "error", "drop_request", "drop_response", "stall", "expire_session", "processing_stuck", "processing_failed",
    "corrupt_bytes",
)
_DEFAULT_ROUTES: dict[str, tuple[str, ...]] = {
    "expire_session": ("chunk", "finalize", "query"),
    "processing_stuck": ("finalize",),
    "processing_failed": ("finalize",),
    "drop_request": ("chunk", "finalize"),
    "corrupt_bytes": ("chunk", "finalize"),
}


def expand_routes(routes: str | list[str] | tuple[str, ...] | None, kind: str) -> tuple[str, ...]:
    """Turn ``"upload"`` / ``["get", "chunk"]`` / ``None`` into a tuple of concrete routes; reject typos."""
    if routes is None:
        return _DEFAULT_ROUTES.get(kind, ROUTES)
    names = [routes] if isinstance(routes, str) else list(routes)
    out: list[str] = []
    for name in names:
        for route in ALIASES.get(name, (name,)):
            if route not in ROUTES:
                raise ValueError(f"unknown route {route!r}; routes: {', '.join(ROUTES)} or {', '.join(ALIASES)}")
            if route not in out:
                out.append(route)
    return tuple(out)


@dataclass
class Fault:
    """One injected fault; see the module docstring for the kinds. Build with :meth:`make`."""

    kind: str
    routes: tuple[str, ...]
    times: int | None = 1
    skip: int = 0
    status: int = 503
    retry_after: float | None = None
    retry_delay: float | None = None
    quota_id: str | None = None
    message: str | None = None
    after_bytes: int = 0
    seconds: float = 0.0
    error_code: int = 400
    id: int = 0
    seen: int = 0
    fired: int = 0

    @classmethod
    def make(cls, kind: str, routes: str | list[str] | tuple[str, ...] | None = None, **params: Any) -> Fault:
        """Validate and build a fault; unknown kinds, routes or parameters raise ``ValueError``."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(KINDS)}")
        names = {f.name for f in dataclasses.fields(cls)} - {"kind", "routes", "id", "seen", "fired"}
        unknown = set(params) - names
        if unknown:
            raise ValueError(f"unknown fault parameters: {', '.join(sorted(unknown))}")
        fault = cls(kind=kind, routes=expand_routes(routes, kind), **params)
        if fault.times is not None and fault.times < 1:
            raise ValueError("times must be at least 1 (or None for ever)")
        return fault

    @property
    def used_up(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["routes"] = list(self.routes)
        return out


@dataclass
class FaultBook:
    """The faults in force, in order, and the ones used up (kept so their counters stay readable)."""

    faults: list[Fault] = field(default_factory=list)
    _next_id: int = 1

    def add(self, fault: Fault) -> Fault:
        fault.id = self._next_id
        self._next_id += 1
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def match(self, route: str) -> Fault | None:
        """The fault that fires for this request, if any; counts it (``seen`` / ``fired``)."""
        for fault in self.faults:
            if route not in fault.routes or fault.used_up:
                continue
            fault.seen += 1
            if fault.seen > fault.skip:
                fault.fired += 1
                return fault
        return None

    def counts(self) -> dict[str, int]:
        """How many times each kind fired, summed over all faults ever added since the last reset."""
        out: dict[str, int] = {}
        for fault in self.faults:
            out[fault.kind] = out.get(fault.kind, 0) + fault.fired
        return out
