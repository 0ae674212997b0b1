"""The data directory is private: it holds uploads, job records and Gemini session URLs (bearer capabilities),
so its directories are 0700 and its files 0600, also what an older version left readable (issue 11, s2)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import redis

from tests.helpers.service import RunningService, service_settings


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def test_the_data_directory_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "redis").mkdir(parents=True)
    old = data / "redis" / "focalpoint.db"  # as an older version left it: world-readable
    old.write_bytes(b"")
    old.chmod(0o644)
    settings = service_settings(tmp_path, None, "fptest-perms")
    svc = RunningService(settings, with_workers=False)
    try:
        client(svc.service.redis_url).set("k", "v")
        assert_private(data, including=("appendonly.aof", "focalpoint.db", "redis-server.pid", "lock"))
    finally:
        svc.stop()
    assert_private(data, including=("appendonly.aof", "focalpoint.db"))


def assert_private(root: Path, *, including: tuple[str, ...] = ("appendonly.aof",)) -> None:
    """Every directory under ``root`` is 0700 and every file 0600; ``including`` were among them."""
    seen = []
    for dirpath, _dirnames, filenames in os.walk(root):
        assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o700, dirpath
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_socket():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
                seen.append(name)
    assert set(including) <= set(seen), seen
