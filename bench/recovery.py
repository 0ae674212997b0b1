"""Recovery: seconds from SIGKILL of a worker mid-upload to the upload continuing in another worker.

    .venv/bin/python bench/recovery.py [--heartbeats default,2s] [--repeats 3] [--size 16MiB] [--quick]

Per run (a fresh Redis namespace each, so no state leaks between runs): the front door, worker A and the
Gemini emulator, each its own process (``focalpoint_upload.cli serve`` / ``worker``, ``python -m
gemini.emulator``). An upload is accepted; the emulator stalls A's 4th chunk (3 MiB committed); worker B is
started and ready; then A's process group gets SIGKILL. Measured from the kill:

- resumed: the first request of B on the upload session (its ``query`` of the stored session URL), seen by
  polling the emulator's request log every 50 ms;
- ACTIVE: the job's state as the status endpoint reports it (polled every 50 ms).

FOCALPOINT_WORKER_HEARTBEAT_TIMEOUT: ``default`` leaves it unset (30 s), any other value is set as is.
Medians over ``--repeats`` runs (the spread is printed too: maintenance runs on a random 1/10 of broker calls).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Child,
    MiB,
    Workdir,
    control,
    emit_summary,
    fmt,
    make_payload,
    median,
    new_namespace,
    print_machine,
    redis_cleanup,
    redis_ok,
    send,
    service_env,
    start_emulator,
    start_frontdoor,
    start_worker,
    table,
    wait_job,
)

from focalpoint_upload.config.parse import size as parse_size


def wait(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def one_run(wd: Path, emu_url: str, file: Path, heartbeat: str, run: int, timeout: float) -> dict[str, float]:
    ns = new_namespace()
    extra = {"GEMINI_CHUNK_SIZE": "1MiB"}
    if heartbeat != "default":
        extra["FOCALPOINT_WORKER_HEARTBEAT_TIMEOUT"] = heartbeat
    env = service_env(wd, ns, emu_url, **extra)
    children: list[Child] = []
    control(emu_url, "POST", "reset")
    control(emu_url, "POST", "faults", {"kind": "stall", "routes": "chunk", "skip": 3, "seconds": 3600})
    try:
        fd, port = start_frontdoor(env, wd / f"fd-{heartbeat}-{run}.log")
        children.append(fd)
        a = start_worker(env, wd / f"wa-{heartbeat}-{run}.log")
        children.append(a)
        r = send(port, file)[0]
        assert r["status"] == 202, r
        job = r["body"]["jobId"]
        wait(lambda: control(emu_url, "GET", "faults")["faults"][0]["seen"] >= 4, 60, "the stalled chunk")
        b = start_worker(env, wd / f"wb-{heartbeat}-{run}.log")
        children.append(b)
        seen = len(control(emu_url, "GET", "log")["log"])
        t_kill = time.monotonic()
        a.kill()
        control(emu_url, "DELETE", "faults")

        def resumed() -> bool:
            # status None: the killed worker's stalled chunk, logged when its connection closed
            return any(e["seq"] > seen and e["status"] is not None and e["route"] in ("query", "chunk", "finalize",
                                                                                      "start")
                       for e in control(emu_url, "GET", "log")["log"])

        wait(resumed, timeout, "the upload to continue")
        t_resumed = time.monotonic()
        doc = wait_job(port, job, {"ACTIVE", "FAILED"}, timeout=120)
        t_active = time.monotonic()
        log = control(emu_url, "GET", "log")["log"]
        after = [e for e in log if e["seq"] > seen]
        first_chunk = next((e["offset"] for e in after if e["route"] in ("chunk", "finalize") and e["status"]), None)
        return {"resumed_s": t_resumed - t_kill, "active_s": t_active - t_kill, "ok": doc["state"] == "ACTIVE",
                "sessions": sum(1 for e in log if e["route"] == "start"),
                "resumed_at_mib": (first_chunk or 0) / MiB}
    finally:
        for c in reversed(children):
            c.stop()
        redis_cleanup(ns)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heartbeats", default="default,2s", help="FOCALPOINT_WORKER_HEARTBEAT_TIMEOUT values")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="16MiB")
    ap.add_argument("--timeout", type=float, default=300.0, help="give up on one run after this many seconds")
    ap.add_argument("--quick", action="store_true", help="smoke check: 2s heartbeat only, 2 repeats")
    a = ap.parse_args()
    if a.quick:
        a.heartbeats, a.repeats = "2s", 2
    if not redis_ok():
        print("no Redis at REDIS_URL / 127.0.0.1:6379", file=sys.stderr)
        return 1
    started = time.monotonic()
    print("## recovery: SIGKILL of a worker mid-upload -> the upload continues in another worker")
    print_machine()
    results: dict[str, list[dict[str, Any]]] = {}
    with Workdir("recovery") as wd:
        emu = None
        try:
            file = make_payload(wd / "f.bin", parse_size("--size", a.size))
            emu, url = start_emulator(wd, granularity=MiB)
            for hb in a.heartbeats.split(","):
                for run in range(a.repeats):
                    results.setdefault(hb, []).append(one_run(wd, url, file, hb, run, a.timeout))
                    r = results[hb][-1]
                    print(f"# heartbeat {hb} run {run + 1}/{a.repeats}: resumed after {r['resumed_s']:.1f} s, "
                          f"ACTIVE after {r['active_s']:.1f} s ({time.monotonic() - started:.0f} s)", flush=True)
        finally:
            if emu is not None:
                emu.stop()
    rows, summary = [], []
    for hb, rs in results.items():
        res = [r["resumed_s"] for r in rs]
        rows.append([hb if hb != "default" else "30s (default)", len(rs), fmt(median(res)),
                     f"{min(res):.1f} .. {max(res):.1f}", fmt(median([r["active_s"] for r in rs])),
                     " ".join(f"{r['resumed_at_mib']:g}" for r in rs), " ".join(str(r["sessions"]) for r in rs),
                     all(r["ok"] for r in rs)])
        summary.append({"heartbeat": hb, "resumed_s": round(median(res), 1),
                        "active_s": round(median([r["active_s"] for r in rs]), 1)})
    print()
    print(table(["heartbeat timeout", "runs", "kill -> resumed s (median)", "min .. max", "kill -> ACTIVE s",
                 "resumed at MiB", "sessions", "all ACTIVE"], rows))
    print(f"\n({a.size} file, 1 MiB chunks; 'resumed at' is the first chunk offset after the kill (3 = from the "
          f"server's offset, not 0); took {time.monotonic() - started:.0f} s)")
    emit_summary("recovery", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
