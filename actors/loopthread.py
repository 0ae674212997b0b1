"""The daemon thread behind a worker process's background loops (the sweeper, the webhook pump)."""

from __future__ import annotations

import threading


class LoopThread:
    """Owns one daemon thread that runs :meth:`_run`; ``_run`` waits on ``self._stop`` between rounds so that
    :meth:`stop` ends it promptly. Subclasses call ``super().__init__(name)`` and implement ``_run``."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end and wait for it, at most 10 s (the thread is a daemon: it cannot hold up exit)."""
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        raise NotImplementedError
