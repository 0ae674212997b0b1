"""Finding and ending processes that are not our children (a redis-server left by a killed predecessor), by
what Linux's /proc says about them. Elsewhere (no /proc) the scans find nothing and only pidfiles count.

A pid is only acted on after checking what it is (its command name and its working directory, which
redis-server sets to its ``dir``), so a recycled pid is never signalled by mistake.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

PROC = Path("/proc")


def _pids() -> Iterator[int]:
    try:
        names = os.listdir(PROC)
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield int(name)


def command(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def cwd(pid: int) -> str:
    try:
        return os.readlink(PROC / str(pid) / "cwd")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie has ended; its parent just has not reaped it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return True  # no /proc: kill(0) is all we know
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def is_redis_server_in(pid: int, directory: Path) -> bool:
    return command(pid) == "redis-server" and cwd(pid) == str(directory.resolve()) and alive(pid)


def redis_servers_in(directory: Path) -> list[int]:
    """Every live redis-server whose working directory (its ``dir``) is ``directory``."""
    return [pid for pid in _pids() if pid != os.getpid() and is_redis_server_in(pid, directory)]


def redis_servers(under: Path | None = None) -> list[int]:
    """Every live redis-server, or those working in ``under`` or below it (also once it was deleted)."""
    found = [pid for pid in _pids() if command(pid) == "redis-server" and alive(pid)]
    if under is None:
        return found
    root = str(under.resolve())
    return [pid for pid in found if (cwd(pid).removesuffix(" (deleted)") + os.sep).startswith(root + os.sep)]


def terminate(pid: int, timeout_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
    """SIGTERM (for Redis: a graceful shutdown), then SIGKILL after ``timeout_s``; returns once it is gone."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = clock() + wait_s
        while alive(pid) and clock() < deadline:
            time.sleep(0.02)  # not our child: there is nothing to wait on but its state
        if not alive(pid):
            return
