"""/metrics and /readyz never wait behind Redis: with the service's Redis frozen (SIGSTOP), status polls hang on
it, yet /metrics and /readyz answer within a second or so (before the front door went async, /metrics hung
for more than 15 s: Redis calls had taken every thread of the one pool it shared with them)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers.http import request
from tests.helpers.service import RunningService, service_settings
from tests.helpers.wait import wait_for

PROMPT_S = 2.5  # the probes' Redis timeout is 0.5 s; a front door sharing one pool with Redis calls took > 5 s


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A redis-server of this test's own (unix socket, no persistence), so freezing it disturbs nobody."""
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    url = f"unix://{sock}"
    try:
        wait_for(lambda: sock.exists() and redis.Redis.from_url(url).ping(), what="the private redis-server")
        yield proc, url
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


def test_metrics_and_readyz_answer_while_redis_is_frozen(tmp_path: Path,
                                                         private_redis: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, url = private_redis
    svc = RunningService(service_settings(tmp_path, url, "fptest-iso"))
    polls: list[threading.Thread] = []
    try:
        assert request(svc.port, "GET", "/metrics").status == 200
        os.kill(proc.pid, signal.SIGSTOP)
        for n in range(24):  # more than the old pool's 16 threads, all stuck on the frozen Redis
            poll = threading.Thread(target=_poll, args=(svc.port, n), daemon=True)
            poll.start()
            polls.append(poll)
        started = time.monotonic()
        metrics = request(svc.port, "GET", "/metrics", timeout=10)
        metrics_s = time.monotonic() - started
        started = time.monotonic()
        ready = request(svc.port, "GET", "/readyz", timeout=10)
        ready_s = time.monotonic() - started
        assert metrics.status == 200 and b"focalpoint_jobs_count_error 1.0" in metrics.body
        assert metrics_s < PROMPT_S, f"/metrics took {metrics_s:.2f} s with Redis frozen"
        assert ready.status == 503 and ready_s < PROMPT_S, f"/readyz: {ready.status} after {ready_s:.2f} s"
        assert "redis" in {f["check"] for f in ready.json["failing"]}
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        for poll in polls:
            poll.join(15)
        svc.stop()


def _poll(port: int, n: int) -> None:
    try:
        request(port, "GET", "/api/upload/status?jobId=j" + "0" * 25, headers={"X-Request-Id": f"poll-{n}"},
                timeout=15)
    except OSError:
        pass
