"""Readiness checks: plain callables that return None when fine, or a short reason when not.

A check may also raise; :func:`run_check` turns the exception into a reason. Checks block (Redis, the disk):
the ``/readyz`` handler runs them in a thread pool with a timeout.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import redis

from focalpoint_upload.observability.presence import alive_workers

Check = Callable[[], str | None]


def run_check(check: Check) -> str | None:
    """None when ``check`` passes; its reason (or its exception, as ``Type: message``) when it fails.

    Reasons are public (anyone may ask /readyz): an OS error shows its ``strerror``, never the file name,
    and a Redis error its type only (redis-py's messages name the address: the embedded Redis's socket path)."""
    try:
        return check()
    except redis.RedisError as exc:
        return f"Redis did not answer ({type(exc).__name__})"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror}" if exc.strerror else type(exc).__name__
    except Exception as exc:
        text = str(exc).splitlines()[0][:200] if str(exc) else ""
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def redis_check(ping: Callable[[], object]) -> Check:
    """Redis answers: ``ping`` is e.g. ``client.ping`` (with the bounded timeouts of ``redis_client``).

    The reason names the error's type only: redis-py's messages carry the address (for the embedded Redis,
    its socket path), which is nobody's business outside the host."""

    def check() -> str | None:
        try:
            return None if ping() else "Redis did not answer PING"
        except redis.RedisError as exc:
            return f"Redis did not answer ({type(exc).__name__})"

    return check


def alive_check(alive: Callable[[], bool], reason: str) -> Check:
    """For /healthz: ``alive`` must be instant and never block (it runs on the IOLoop)."""

    def check() -> str | None:
        return None if alive() else reason

    return check


def spool_check(spool_dir: Path, pressure: Check | None = None) -> Check:
    """The spool directory exists and a file can be created, written and removed in it; and, with ``pressure``
    (e.g. ``frontdoor.space.pressure_check``), the volume still has room for new uploads."""

    def check() -> str | None:
        if not spool_dir.is_dir():
            return "the spool directory does not exist"
        fd, name = tempfile.mkstemp(prefix=".readyz-", dir=spool_dir)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(name)
        return pressure() if pressure is not None else None

    return check


def workers_check(client: redis.Redis, dramatiq_ns: str, heartbeat_timeout_s: float,
                  clock: Callable[[], float]) -> Check:
    """At least one Dramatiq worker was seen within the heartbeat timeout (see :mod:`observability.presence`)."""

    def check() -> str | None:
        n = alive_workers(client, dramatiq_ns, heartbeat_timeout_s, clock)
        return None if n > 0 else f"no worker heartbeat in the last {heartbeat_timeout_s:g} s"

    return check


def accepting_check(accepting: Callable[[], bool]) -> Check:
    """Fails once shutdown has begun, so load balancers stop sending new uploads here."""

    def check() -> str | None:
        return None if accepting() else "shutting down: new uploads are refused"

    return check
