"""The service's real processes (serve, worker) started as a user would, for tests that kill them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers.wait import wait_for


class Proc:
    """``python -m focalpoint_upload.cli ARGS`` with its stderr in a file the test can read."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._fh = log.open("wb")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("FOCALPOINT_", "GEMINI_", "REDIS_URL"))}
        full_env.update(env)
        self.p = subprocess.Popen([sys.executable, "-m", "focalpoint_upload.cli", *args], env=full_env,
                                  stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        def seen() -> re.Match[str] | None:
            m = re.search(pattern, self.text())
            if m is None and self.p.poll() is not None:
                raise AssertionError(f"process exited {self.p.returncode}:\n{self.text()[-3000:]}")
            return m

        return wait_for(seen, timeout, f"{pattern!r} seen", interval=0.05, detail=lambda: self.text()[-3000:])

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a crashed host."""
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait(10)

    def stop(self, timeout: float = 20.0) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._fh.close()
        return int(self.p.returncode)


def serve(env: dict[str, str], log: Path, *args: str) -> tuple[Proc, int]:
    proc = Proc(["serve", "--port", "0", *args], env, log)
    port = int(proc.wait_for(r"listening on http://[^:]+:(\d+)/").group(1))
    return proc, port


def worker(env: dict[str, str], log: Path) -> Proc:
    proc = Proc(["worker"], env, log)
    proc.wait_for(r'"event":"worker_started"')
    return proc
