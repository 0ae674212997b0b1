"""Shared pieces of the benchmarks: machine record, statistics, temp dirs, payload files, child processes
(emulator, front door, worker, helpers in bench/), Redis clean-up and table printing.

Every child process is started by us, in its own session, and ended by its own pid/pgid in ``finally``; a
redis-server left under a work directory (an embedded Redis outlives a SIGKILLed service) is stopped when the
directory is removed. Only loopback addresses are used.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
MB = 10**6
MiB = 2**20
GiB = 2**30
REDIS_URL = os.environ.get("FOCALPOINT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PACKAGES = ("tornado", "dramatiq", "redis", "google-genai", "limits", "httpx2", "multipart")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- machine ----------------------------------------------------------------------------------------------
def machine_lines() -> list[str]:
    model = ""
    try:
        model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), "")
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, AttributeError):
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} -")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [f"machine: {os.cpu_count()} cores ({model}), {mem} RAM, Linux {platform.release()}, load avg {load}",
            f"python: {platform.python_version()}; " + ", ".join(versions)]


def print_machine() -> None:
    for line in machine_lines():
        print(f"# {line}")


# --- statistics -------------------------------------------------------------------------------------------
def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def pct(xs: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); with fewer than 100 samples p99 is the maximum."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))
    return s[k]


def fmt(x: float, digits: int = 1) -> str:
    if x != x:  # nan
        return "-"
    return f"{x:,.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table (readable in a terminal, pasteable in bench/README.md)."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def emit_summary(name: str, rows: list[dict[str, Any]]) -> None:
    """One machine-readable line per script, collected by run_all.py."""
    print("BENCH-SUMMARY " + json.dumps({"bench": name, "rows": rows}))


# --- files --------------------------------------------------------------------------------------------------
class Workdir:
    """A temp dir under /tmp (or $FPBENCH_TMP) that is removed on exit, whatever happens."""

    def __init__(self, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"fpbench-{prefix}-", dir=os.environ.get("FPBENCH_TMP")))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        stop_redis_servers_under(self.path)
        shutil.rmtree(self.path, ignore_errors=True)


def stop_redis_servers_under(root: Path) -> list[int]:
    """End every redis-server working under ``root`` (an embedded Redis whose service was SIGKILLed lives on,
    in its own session), before ``root`` is removed under it; says so on stderr. Returns their pids."""
    from focalpoint_upload import procfs

    left = procfs.redis_servers(under=root)
    for pid in left:
        print(f"# bench: stopping a redis-server left running under {root} (pid {pid})", file=sys.stderr)
        procfs.terminate(pid)
    return left


def make_payload(path: Path, size: int) -> Path:
    """``size`` incompressible bytes: a 16 MiB random block, every MiB stamped with its index."""
    block = bytearray(os.urandom(16 * MiB))
    with open(path, "wb") as fh:
        written, n = 0, 0
        while written < size:
            for off in range(0, len(block), MiB):
                block[off:off + 8] = n.to_bytes(8, "big")
                n += 1
            piece = memoryview(block)[: min(len(block), size - written)]
            fh.write(piece)
            written += len(piece)
    return path


def clear_dir(path: Path) -> None:
    if path.exists():
        for entry in path.iterdir():
            if entry.is_file():
                entry.unlink(missing_ok=True)


# --- processes ----------------------------------------------------------------------------------------------
class Child:
    """A child process in its own session, output to a log file; ended by its own pgid."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None,
                 stdout_pipe: bool = False) -> None:
        self.log = log
        self._fh = log.open("wb")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("FOCALPOINT_", "GEMINI_", "REDIS_URL"))}
        base["PYTHONPATH"] = str(ROOT)
        base.update(env or {})
        self.p = subprocess.Popen(argv, env=base, cwd=ROOT, start_new_session=True,
                                  stdout=subprocess.PIPE if stdout_pipe else self._fh, stderr=self._fh,
                                  text=stdout_pipe)

    @property
    def pid(self) -> int:
        return self.p.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.p.args} exited {self.p.returncode}:\n{self.text()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"{pattern!r} not seen in time:\n{self.text()[-3000:]}")

    def kill(self) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.p.stdout is not None:
            self.p.stdout.close()
        self._fh.close()

    # /proc figures of this process
    def status_kib(self, field: str) -> int:
        m = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{self.pid}/status").read_text(), re.M)
        return int(m.group(1)) if m else 0

    def peak_rss_mib(self) -> float:
        return self.status_kib("VmHWM") / 1024

    def rss_mib(self) -> float:
        return self.status_kib("VmRSS") / 1024

    def reset_peak(self) -> None:
        """Reset VmHWM to the current RSS (Linux >= 4.0: ``echo 5 > /proc/PID/clear_refs``)."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process (all threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_emulator(workdir: Path, name: str = "emulator", processing_delay: float = 0.0,
                   granularity: int = 8 * MiB, api_key: str = "bench-key") -> tuple[Child, str]:
    child = Child([PY, "-m", "focalpoint_upload.gemini.emulator", "--port", "0", "--api-key", api_key, "--granularity",
                   str(granularity), "--processing-delay", str(processing_delay)],
                  workdir / f"{name}.log", stdout_pipe=True)
    assert child.p.stdout is not None
    line = child.p.stdout.readline()
    if not line.startswith("LISTENING "):
        child.stop()
        raise RuntimeError(f"emulator did not start: {line!r} {child.text()[-2000:]}")
    base = f"http://127.0.0.1:{int(line.split()[1])}"
    control(base, "POST", "config", {"project_bytes": 10**13})  # many 2 GiB files over a run
    return child, base


def control(base_url: str, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
    """The emulator's control API (``/_emulator/...``)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else b""
        conn.request(method, f"/_emulator/{action}", body=payload, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"emulator {method} {action}: {resp.status} {data!r}")
        return json.loads(data) if data else None
    finally:
        conn.close()


def new_namespace() -> str:
    return f"fpbench-{uuid.uuid4().hex[:10]}"


def service_env(workdir: Path, namespace: str, gemini_url: str, api_key: str = "bench-key",
                **extra: str) -> dict[str, str]:
    env = {"FOCALPOINT_DATA_DIR": str(workdir / "data"), "FOCALPOINT_REDIS_NAMESPACE": namespace,
           "REDIS_URL": REDIS_URL, "GEMINI_BASE_URL": gemini_url, "GEMINI_API_KEY": api_key,
           "FOCALPOINT_MIN_FREE_SPACE": "1MiB", "FOCALPOINT_LOG_LEVEL": "info",
           "FOCALPOINT_LIMIT_STATUS_PER_IP": "1000000/minute",
           "FOCALPOINT_LIMIT_NEW_UPLOADS_PER_IP": "1000000/hour",
           "FOCALPOINT_LIMIT_INGEST_PER_ATTEMPT": "1000/minute",
           "FOCALPOINT_MAX_UPLOADS_PER_IP": "0"}  # every bench client comes from one address
    env.update(extra)
    return env


def start_frontdoor(env: dict[str, str], log: Path) -> tuple[Child, int]:
    """``python -m focalpoint_upload.cli serve`` with REDIS_URL set: the front door only, no workers."""
    child = Child([PY, "-m", "focalpoint_upload.cli", "serve", "--port", "0"], log, env)
    port = int(child.wait_for(r"listening on http://[^:]+:(\d+)/").group(1))
    return child, port


def start_worker(env: dict[str, str], log: Path) -> Child:
    child = Child([PY, "-m", "focalpoint_upload.cli", "worker"], log, env)
    child.wait_for(r'"event":"worker_started"')
    return child


def start_helper(script: str, args: list[str], log: Path) -> tuple[Child, int]:
    """A helper server of bench/ that prints ``LISTENING <port>`` on stdout."""
    child = Child([PY, str(BENCH / script), *args], log, stdout_pipe=True)
    assert child.p.stdout is not None
    line = child.p.stdout.readline()
    if not line.startswith("LISTENING "):
        child.stop()
        raise RuntimeError(f"{script} did not start: {line!r} {child.text()[-2000:]}")
    return child, int(line.split()[1])


def start_frontdoor_and_sink(wd: Path, env: dict[str, str], children: list[Child]) -> tuple[Child, int, int]:
    """The front door (see :func:`start_frontdoor`) and the baseline socket sink (``_sink.py`` writing under
    ``wd / "sink"``): each is appended to ``children`` as soon as it runs, so the caller's finally stops
    whatever started. Returns the front door, its port and the sink's port."""
    (wd / "sink").mkdir()
    fd, fd_port = start_frontdoor(env, wd / "frontdoor.log")
    children.append(fd)
    sink, sink_port = start_helper("_sink.py", ["--dir", str(wd / "sink")], wd / "sink.log")
    children.append(sink)
    return fd, fd_port, sink_port


def redis_cleanup(namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
    finally:
        client.close()


def redis_ok() -> bool:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return True
    except redis.RedisError:
        return False


# --- HTTP ---------------------------------------------------------------------------------------------------
def http_json(port: int, method: str, path: str, headers: dict[str, str] | None = None,
              body: bytes | None = None, timeout: float = 30) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        try:
            return resp.status, json.loads(data) if data else None
        except ValueError:
            return resp.status, data
    finally:
        conn.close()


def wait_job(port: int, job_id: str, states: set[str], timeout: float = 600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, doc = http_json(port, "GET", f"/api/upload/status?jobId={job_id}")
        if status == 200 and doc["state"] in states:
            return doc
        time.sleep(0.05)
    raise RuntimeError(f"job {job_id} stayed {doc.get('state') if isinstance(doc, dict) else doc}")


def send(port: int, file: Path, *, mode: str = "raw", parallel: int = 1, path: str = "/api/upload",
         xff: str | None = None, timeout: float = 600) -> list[dict[str, Any]]:
    """Upload ``file`` from a separate process (bench/_send.py, os.sendfile); one result dict per upload."""
    argv = [PY, str(BENCH / "_send.py"), "--port", str(port), "--file", str(file), "--mode", mode,
            "--parallel", str(parallel), "--path", path]
    if xff:
        argv += ["--xff", xff]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"_send.py failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)
