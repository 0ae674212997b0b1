"""Stream-through: a large resumable upload's last byte -> Gemini's finalize, and time to ACTIVE, with
stream-through on against today's design (FOCALPOINT_STREAM_THROUGH=false), same run.

    .venv/bin/python bench/stream_through.py [--size 2GiB] [--chunk 32MiB] [--repeats 3] [--rate 0] [--quick]

What runs (loopback, each its own process): the emulator (``python -m focalpoint_upload.gemini.emulator``,
8 MiB granularity, no processing delay), and two services, each a front door (``focalpoint_upload.cli serve``
with REDIS_URL) plus one worker (``focalpoint_upload.cli worker``) in a Redis namespace of its own: one with
stream-through on, one off. The client is ``bench/_tus_send.py``: creation, then one PATCH per ``--chunk`` over
one keep-alive connection, bodies by ``os.sendfile`` (``--rate`` paces it to a slower link). Runs alternate
between the two services, the order swapped every repeat.

While a run goes, this process polls the job's status (``?attemptId=``) every ~10 ms and notes, by
CLOCK_MONOTONIC (comparable across processes on Linux), when it first saw the job past UPLOADING (Gemini
answered the finalize: the worker moves the job on right after) and when it first saw ACTIVE, and how many bytes
Gemini had (``progress.bytesUploaded``) at the last poll before the client's last byte. Figures, medians over
the repeats: last byte -> finalize (target < 2 s), first byte -> ACTIVE, and the ratio off / on.
The resolution is the poll interval plus one status request (~10-20 ms).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH,
    MB,
    PY,
    ROOT,
    Child,
    Workdir,
    clear_dir,
    control,
    emit_summary,
    fmt,
    http_json,
    make_payload,
    median,
    new_namespace,
    print_machine,
    redis_cleanup,
    redis_ok,
    service_env,
    start_emulator,
    start_frontdoor,
    start_worker,
    table,
)

from focalpoint_upload.config.parse import size as parse_size

TARGET_S = 2.0
MODES = ("on", "off")


class Follower(threading.Thread):
    """Polls one job's status by attempt id; keeps (time, state, bytesUploaded) samples."""

    def __init__(self, port: int, attempt: str, timeout: float) -> None:
        super().__init__(daemon=True)
        self.port, self.attempt, self.deadline = port, attempt, time.monotonic() + timeout
        self.samples: list[tuple[float, str, int]] = []

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            status, doc = http_json(self.port, "GET", f"/api/upload/status?attemptId={self.attempt}")
            now = time.monotonic()
            if status == 200 and isinstance(doc, dict):
                self.samples.append((now, doc["state"], int(doc["progress"]["bytesUploaded"] or 0)))
                if doc["state"] in ("ACTIVE", "FAILED", "CANCELLED"):
                    return
            time.sleep(0.01)

    def first(self, states: set[str]) -> float | None:
        return next((t for t, s, _ in self.samples if s in states), None)

    def uploaded_before(self, t: float) -> int:
        return max((b for ts, _, b in self.samples if ts <= t), default=0)


def one_upload(port: int, file: Path, chunk: int, rate: float, timeout: float = 900) -> dict[str, float]:
    attempt = uuid.uuid4().hex
    follower = Follower(port, attempt, timeout)
    follower.start()
    out = subprocess.run([PY, str(BENCH / "_tus_send.py"), "--port", str(port), "--file", str(file),
                          "--chunk", str(chunk), "--attempt", attempt, "--rate", str(rate)],
                         capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"_tus_send.py failed: {out.stderr[-2000:]}")
    res: dict[str, Any] = json.loads(out.stdout)
    if res.get("status") != 204 or res.get("offset") != file.stat().st_size:
        raise RuntimeError(f"tus upload failed: {res}")
    follower.join(timeout)
    finalized = follower.first({"PROCESSING", "ACTIVE"})
    active = follower.first({"ACTIVE"})
    if finalized is None or active is None:
        raise RuntimeError(f"job did not become ACTIVE: {follower.samples[-3:]}")
    return {"finalize_s": max(0.0, finalized - res["t_last"]), "active_s": active - res["t0"],
            "ingest_s": res["t_last"] - res["t0"], "gemini_before_mb": follower.uploaded_before(res["t_last"]) / MB}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="2GiB")
    ap.add_argument("--chunk", default="32MiB", help="tus PATCH size")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rate", default="0", help="client link, bytes/s (e.g. 200MB); 0: as fast as loopback goes")
    ap.add_argument("--quick", action="store_true", help="smoke check: 256 MiB, 1 repeat")
    a = ap.parse_args()
    if a.quick:
        a.size, a.repeats = "256MiB", 1
    size, chunk = parse_size("--size", a.size), parse_size("--chunk", a.chunk)
    rate = float(parse_size("--rate", a.rate)) if a.rate != "0" else 0.0
    if not redis_ok():
        print("no Redis at REDIS_URL / 127.0.0.1:6379", file=sys.stderr)
        return 1
    started = time.monotonic()
    print("## stream-through: last byte -> Gemini finalize, on vs off (same run)")
    print_machine()
    children: list[Child] = []
    namespaces = {m: new_namespace() for m in MODES}
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    with Workdir("stream") as wd:
        try:
            emulator, emu_url = start_emulator(wd)
            children.append(emulator)
            big = make_payload(wd / "big.bin", size)
            warm = make_payload(wd / "warm.bin", 16 * 2**20)
            ports: dict[str, int] = {}
            for m in MODES:
                (wd / m).mkdir()
                env = service_env(wd / m, namespaces[m], emu_url, FOCALPOINT_STREAM_THROUGH=str(m == "on").lower(),
                                  FOCALPOINT_UPLOAD_REQUESTS_PER_MINUTE="1000000", FOCALPOINT_WORKER_THREADS="2")
                fd, ports[m] = start_frontdoor(env, wd / m / "frontdoor.log")
                children.append(fd)
                children.append(start_worker(env, wd / m / "worker.log"))
            print(f"# {size} B in {a.chunk} PATCHes, rate {a.rate}, {a.repeats} repeats, modes alternate",
                  flush=True)
            for m in MODES:
                one_upload(ports[m], warm, chunk, 0.0)  # warm-up: imports, connections, first job
            for rep in range(a.repeats):
                for m in (MODES if rep % 2 == 0 else MODES[::-1]):
                    runs[m].append(one_upload(ports[m], big, chunk, rate))
                    print(f"# {m}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[m][-1].items()), flush=True)
                    clear_dir(wd / m / "data" / "spool")
                    control(emu_url, "POST", "reset")  # forget the files: the emulator's memory stays flat
                print(f"# repeat {rep + 1}/{a.repeats} done ({time.monotonic() - started:.0f} s)", flush=True)
        finally:
            for c in children:
                c.stop()
            for ns in namespaces.values():
                redis_cleanup(ns)
    med = {m: {k: median([r[k] for r in runs[m]]) for k in runs[m][0]} for m in MODES}
    rows, summary = [], []
    for m in MODES:
        x = med[m]
        target = f"< {TARGET_S:g} s: " + ("met" if x["finalize_s"] < TARGET_S else "MISSED") if m == "on" else "-"
        rows.append([f"stream-through {m}", len(runs[m]), fmt(x["ingest_s"], 2), fmt(x["gemini_before_mb"], 0),
                     fmt(x["finalize_s"], 2), fmt(max(r["finalize_s"] for r in runs[m]), 2), fmt(x["active_s"], 2),
                     target])
        summary.append({"case": f"stream-through {m}, {a.size}", "finalize_s": round(x["finalize_s"], 3),
                        "active_s": round(x["active_s"], 3), "gemini_before_mb": round(x["gemini_before_mb"])})
    print()
    print(f"### {a.size}, {a.chunk} PATCHes, median of {a.repeats}")
    print(table(["design", "n", "client first->last byte s", "Gemini had before last byte MB",
                 "last byte->finalize s", "max s", "first byte->ACTIVE s", "target"], rows))
    on, off = med["on"], med["off"]
    print(f"\nlast byte -> finalize: off / on = {off['finalize_s'] / max(on['finalize_s'], 1e-3):.1f}x; "
          f"time to ACTIVE: on saves {off['active_s'] - on['active_s']:.2f} s "
          f"({1 - on['active_s'] / off['active_s']:.0%}); took {time.monotonic() - started:.0f} s")
    emit_summary("stream_through", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
