"""Start-up and shutdown plumbing shared by the long-running commands: stop signals, start errors, private
directories.

A stop signal (SIGTERM, SIGINT) that arrives at any moment after a command took over its signals is a request
to stop, never a kill: during a synchronous start-up it is remembered, and once an asyncio loop runs it is
delivered on that loop (through asyncio's wake-up fd, so a signal caught by any thread wakes the loop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
log = logging.getLogger("focalpoint.lifecycle")


class StartError(Exception):
    """A start that cannot succeed; ``str()`` is one line for the user, ``exit_status`` the process's status."""

    exit_status = 1


class StopSignals:
    """SIGTERM and SIGINT as one "please stop" request, from :meth:`install` until the process exits.

    Repeated signals change nothing: the first one starts the clean stop, which is bounded by its own timeouts.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._rsock: socket.socket | None = None

    def install(self) -> StopSignals:
        """Take over the signals (main thread only). ``wait`` wakes on a signal caught by any thread."""
        rsock, wsock = socket.socketpair()
        rsock.setblocking(False)
        wsock.setblocking(False)
        self._rsock, self._wsock = rsock, wsock
        signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.note(signum)

    def note(self, signum: int) -> None:
        if self.received is not None:
            return
        self.received = signum
        for callback in self._callbacks:
            callback()

    @property
    def requested(self) -> bool:
        return self.received is not None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until a stop was requested (True) or ``timeout_s`` passed (False). For threads-only commands."""
        assert self._rsock is not None, "install() first"
        while self.received is None:
            ready, _, _ = select.select([self._rsock], [], [], timeout_s)
            if not ready:
                return False
            for byte in self._rsock.recv(64):  # the wake-up fd carries the signal numbers
                if byte in STOP_SIGNALS:
                    self.note(byte)
        return True

    def attach(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        """From now on the signals are delivered on ``loop`` and run ``callback`` (once); at once if one came."""
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.note, sig)
        self._callbacks.append(callback)
        if self.received is not None:
            callback()

    def detach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take the signals back from ``loop`` (which would reset them to their defaults when it closes)."""
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, self._on_signal)
        if self._rsock is not None:
            signal.set_wakeup_fd(self._wsock.fileno(), warn_on_full_buffer=False)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed and make it 0700: uploads and the job store are private.
    A directory we may not change (someone else's) is left as it is, with a warning."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        _chmod(path, 0o700)
    except PermissionError:
        log.warning("data_dir_not_private", extra={"fields": {"dir": str(path)}})
    return path


def secure_tree(root: Path) -> None:
    """Directories under ``root`` 0700, files 0600 (what an older version left world-readable)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            _chmod(Path(dirpath, name), 0o700)
        for name in filenames:
            _chmod(Path(dirpath, name), 0o600)


def _chmod(path: Path, mode: int) -> None:
    try:
        if not path.is_symlink() and (path.stat().st_mode & 0o777) != mode:
            os.chmod(path, mode)
    except FileNotFoundError:  # a spool file finished meanwhile
        pass
