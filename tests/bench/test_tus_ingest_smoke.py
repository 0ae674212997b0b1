"""bench/tus_ingest.py runs end to end with tiny sizes, prints its tables, and leaves nothing behind.

Not a speed check (the figures of a 4 MiB run mean nothing): it keeps the benchmark from rotting, and checks
the bench's promises: a summary line, the temp dir removed, no child process or redis-server left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def test_tus_ingest_runs_end_to_end_with_tiny_sizes(redis_url: str, tmp_path: Path) -> None:
    scratch = tmp_path / "bench"
    scratch.mkdir()
    env = {**os.environ, "FPBENCH_TMP": str(scratch), "FOCALPOINT_TEST_REDIS_URL": redis_url}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "tus_ingest.py"), "--size", "4MiB",
                          "--chunks", "1MiB,2MiB,4MiB", "--repeats", "1", "--latency-size", "4MiB",
                          "--latency-chunk", "1MiB", "--latency-runs", "2"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "### throughput, 4MiB" in out.stdout
    assert "### last PATCH -> answer, 4MiB, 1MiB chunks, 2 runs" in out.stdout
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("BENCH-SUMMARY "))
    rows = json.loads(line.removeprefix("BENCH-SUMMARY "))["rows"]
    cases = [r["case"] for r in rows]
    assert cases[:5] == ["sink (_sink.py, one request)", "POST /api/upload (one request)", "tus, 1MiB PATCHes",
                         "tus, 2MiB PATCHes", "tus, 4MiB PATCHes"]
    assert all(r["mbs"] > 0 for r in rows[:5])
    assert rows[5]["p99_ms"] >= rows[5]["p50_ms"] > 0
    assert list(scratch.iterdir()) == []  # the work dir (spool, logs, payloads) is gone
    assert _processes_mentioning(str(scratch)) == []  # front door, sink, clients: all ended
