"""20 start/stop cycles of the real ``serve`` on one data directory: SIGTERM, SIGINT, a SIGTERM in the middle
of start-up, a failed start on a busy port, and a SIGKILL followed by a start. Never more than one
redis-server for the data directory (a sampler watches the whole time), none once it is over, and what was
written at the first start is still there at the last.

Marked ``chaos`` like the chaos suite's short form: it exercises processes and Redis, not the interpreter, so
tox runs it once (py311), not on every Python (about 30-60 s on 2 cores).
"""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path

import pytest
import redis

from focalpoint_upload import procfs
from tests.helpers.procs import Proc

KINDS = ["sigterm", "busy_port", "sigint", "sigkill", "sigterm_during_start"]
CYCLES = 20


class Sampler:
    """Counts the data directory's redis-servers until stopped; ``most`` is the highest count seen."""

    def __init__(self, redis_dir: Path) -> None:
        self.redis_dir = redis_dir
        self.most = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.05):
            self.most = max(self.most, len(procfs.redis_servers_in(self.redis_dir)))

    def stop(self) -> int:
        self._done.set()
        self._thread.join(5)
        return self.most


@pytest.mark.chaos
def test_twenty_start_stop_cycles_leave_no_redis_and_never_two(tmp_path: Path) -> None:
    data = tmp_path / "data"
    redis_dir = data / "redis"
    # The cheapest working configuration: the embedded default with one worker thread, Gemini emulated.
    env = {"FOCALPOINT_DATA_DIR": str(data), "FOCALPOINT_WORKER_THREADS": "1", "FOCALPOINT_SHUTDOWN_GRACE": "1s"}
    sampler = Sampler(redis_dir)
    seen: list[str] = []
    try:
        for i in range(CYCLES):
            kind = KINDS[i % len(KINDS)]
            log = tmp_path / f"serve-{i}-{kind}.log"
            if kind == "busy_port":
                with socket.socket() as busy:
                    busy.bind(("127.0.0.1", 0))
                    busy.listen()
                    port = busy.getsockname()[1]
                    proc = Proc(["serve", "--port", str(port), "--emulate-gemini"], env, log)
                    assert proc.p.wait(60) == 2, proc.text()[-2000:]
                    proc.stop()
                assert "--port or FOCALPOINT_PORT" in proc.text() and "Traceback" not in proc.text()
                assert procfs.redis_servers_in(redis_dir) == []
                seen.append(kind)
                continue
            proc = Proc(["serve", "--port", "0", "--emulate-gemini"], env, log)
            try:
                if kind == "sigterm_during_start":
                    proc.wait_for('"event":"embedded_redis_started"', timeout=60)
                    proc.p.send_signal(signal.SIGTERM)
                    assert proc.p.wait(30) == 0, proc.text()[-2000:]
                    assert procfs.redis_servers_in(redis_dir) == []
                    seen.append(kind)
                    continue
                proc.wait_for(r"listening on http://", timeout=60)
                assert len(procfs.redis_servers_in(redis_dir)) == 1
                if i == 0:
                    _client(redis_dir).set("fptest-cycles:survivor", str(tmp_path))
                if i == CYCLES - 1:
                    assert _client(redis_dir).get("fptest-cycles:survivor") == str(tmp_path).encode()
                if kind == "sigkill":
                    proc.kill()  # the whole process group: the service dies with no clean-up at all
                    assert len(procfs.redis_servers_in(redis_dir)) == 1  # its Redis (own session) is left...
                else:  # ...and the next start stops it before starting its own
                    proc.p.send_signal(signal.SIGINT if kind == "sigint" else signal.SIGTERM)
                    assert proc.p.wait(30) == 0, proc.text()[-2000:]
                    assert procfs.redis_servers_in(redis_dir) == []
                assert "Traceback" not in proc.text()
                seen.append(kind)
            finally:
                proc.stop()
    finally:
        most = sampler.stop()
        for pid in procfs.redis_servers_in(redis_dir):  # only if an assertion above failed
            procfs.terminate(pid)
    assert len(seen) == CYCLES and set(seen) == set(KINDS)
    assert most == 1, f"{most} redis-servers at once for one data directory"
    assert procfs.redis_servers_in(redis_dir) == []


def _client(redis_dir: Path) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(redis_dir / "redis.sock"), socket_timeout=5)
