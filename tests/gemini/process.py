"""Run the emulator in its own process (``python -m focalpoint_upload.gemini.emulator --port 0``), pytest-independent.

Later tests kill workers and need an emulator that outlives them; this is the way to get one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]


class EmulatorProcess:
    """Starts the emulator subprocess and waits for its ``LISTENING <port>`` line; ``stop()`` ends it."""

    def __init__(self, *, api_key: str = "emulator-key", granularity: int = 1024, timeout_s: float = 15) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.api_key = api_key
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "focalpoint_upload.gemini.emulator", "--port", "0", "--api-key", api_key,
             "--granularity", str(granularity)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until ready (or the process died: empty line)
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"emulator process did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
