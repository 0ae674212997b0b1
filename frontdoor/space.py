"""Spool space: how much a running upload may hold, and whether more fits.

A running upload holds the bytes it has written plus a *look-ahead*: room promised for the bytes about to
arrive. The look-ahead grows with what has arrived (a client that has sent little holds little) and is bounded
by FOCALPOINT_SPOOL_LOOKAHEAD, so one client can never hold more than its share however large a
``Content-Length`` it declares. When an upload's bytes reach the end of its look-ahead it asks for the next
stretch (:func:`next_reserved_until`), checked against the free space beside everyone else's look-ahead
(:func:`space_problem`); a refusal fails that upload with 507.

Bytes still in an upload's write buffer (at most one batch) are counted as written; FOCALPOINT_MIN_FREE_SPACE
is the margin that covers them. The pure functions take numbers; the blocking ones (``statvfs``, a directory
scan) must run off the IOLoop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from focalpoint_upload.config import Settings
from focalpoint_upload.frontdoor.spool import free_bytes, spool_usage

FIRST_STEP = 64 * 1024  # what a fresh upload holds ahead: about one read from the socket


class Holder(Protocol):
    def bytes_still_expected(self) -> int:
        """Spool bytes this upload holds beyond what it has written (its look-ahead)."""


def next_reserved_until(received: int, declared: int | None, lookahead_max: int) -> int:
    """The byte offset an upload that has ``received`` bytes may write up to before asking again.

    Look-ahead = ``received`` (it doubles as bytes arrive), at least :data:`FIRST_STEP`, at most
    ``lookahead_max``; never past a declared total (``declared``, the Content-Length when there is one).
    """
    ahead = min(max(FIRST_STEP, received), max(lookahead_max, FIRST_STEP))
    until = received + ahead
    if declared is not None:
        until = min(until, max(declared, received))
    return until


def outstanding(holders: Iterable[Holder], exclude: object = None) -> int:
    """The look-ahead held by ``holders`` (except ``exclude``). Safe to call from another thread: a set being
    changed meanwhile is copied again."""
    for _ in range(5):
        try:
            current = tuple(holders)
            break
        except RuntimeError:  # "Set changed size during iteration": the IOLoop added or removed an upload
            continue
    else:
        return 0
    return sum(h.bytes_still_expected() for h in current if h is not exclude)


def headroom(s: Settings, reserved: int) -> int:
    """Bytes a new upload could still get: free space beyond FOCALPOINT_MIN_FREE_SPACE and ``reserved``
    (everyone's look-ahead), and within FOCALPOINT_SPOOL_CAP when set. Blocking (statvfs, a directory scan)."""
    room = free_bytes(s.spool_dir) - reserved - s.min_free_bytes
    if s.spool_cap_bytes:
        room = min(room, s.spool_cap_bytes - spool_usage(s.spool_dir) - reserved)
    return room


def space_problem(s: Settings, needed: int, reserved: int) -> str | None:
    """Why ``needed`` more bytes do not fit beside ``reserved`` bytes promised to running uploads. Blocking."""
    free = free_bytes(s.spool_dir) - reserved
    if free - needed < s.min_free_bytes:
        return ("The spool volume is too full for this upload right now (the service keeps "
                f"{s.min_free_bytes} bytes free). Try again later.")
    if s.spool_cap_bytes and spool_usage(s.spool_dir) + reserved + needed > s.spool_cap_bytes:
        return "The spool directory is full; try again later."
    return None


def pressure_check(s: Settings, reserved: Callable[[], int]) -> Callable[[], str | None]:
    """A readiness probe: a reason when less than FOCALPOINT_SPOOL_READY_HEADROOM is left for new uploads."""

    def check() -> str | None:
        held = reserved()
        room = headroom(s, held)
        if room >= s.spool_ready_headroom_bytes:
            return None
        return (f"spool volume under pressure: {max(room, 0)} bytes left for new uploads "
                f"(below {s.spool_ready_headroom_bytes}; {held} held ahead by running uploads)")

    return check
