"""Time to answer: last body byte -> 202 of the front door, against the old synchronous design, same run.

    .venv/bin/python bench/time_to_answer.py [--sizes 100MB,2GiB] [--runs 20,5] [--slow 120] [--quick]

New design: the front door (``focalpoint_upload.cli serve`` with REDIS_URL) + one ``worker`` process + the Gemini
emulator, each its own process. Each upload is sent by ``bench/_send.py`` (os.sendfile); the figure is
client-side: last byte handed to the kernel -> whole answer read (so it also counts the bytes still in the
socket buffers). The front door's own ``msFromLastByte`` (access log) is shown beside it. Before the next
upload we wait until the worker has finished the Gemini upload (job PROCESSING or ACTIVE), so that runs do
not overlap; the emulator's processing time is then 0 s, and ``--slow`` s (default 120) in a second phase.

Baseline: ``bench/_sync_server.py``, a Tornado handler that spools the body, fsyncs, uploads it with the
SDK's ``files.upload`` and polls ``files.get`` every second until ACTIVE before it answers. At 0 s it is
measured as often as the new design. At ``--slow`` s it is measured ONCE per size, for real (the emulator
really waits that long): those uploads start first, and their idle wait overlaps the other phases, so the
run stays within a few minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Child,
    Workdir,
    control,
    emit_summary,
    fmt,
    make_payload,
    median,
    new_namespace,
    pct,
    print_machine,
    redis_cleanup,
    redis_ok,
    send,
    service_env,
    start_emulator,
    start_frontdoor,
    start_helper,
    start_worker,
    table,
    wait_job,
)

from focalpoint_upload.config.parse import size as parse_size


def ms(r: dict[str, Any]) -> float:
    return (r["t_answer"] - r["t_last"]) * 1000


def finalized(base_url: str) -> int:
    return sum(1 for e in control(base_url, "GET", "log")["log"] if e["route"] == "finalize" and e["status"] == 200)


def server_ms(log_text: str) -> dict[str, float]:
    out = {}
    for line in log_text.splitlines():
        if '"event":"upload_request"' in line:
            rec = json.loads(line)
            if rec.get("jobId") and rec.get("msFromLastByte") is not None:
                out[rec["jobId"]] = rec["msFromLastByte"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100MB,2GiB")
    ap.add_argument("--runs", default="20,5", help="runs per size (comma-separated, one per size)")
    ap.add_argument("--slow", type=float, default=120.0, help="the slow Gemini processing time, seconds")
    ap.add_argument("--poll-interval", type=float, default=1.0, help="the baseline's files.get interval")
    ap.add_argument("--quick", action="store_true", help="smoke check: 16MiB,128MiB, 5,3 runs, slow = 5 s")
    ap.add_argument("--detail", action="store_true", help="print every upload of the new design (client, server ms)")
    a = ap.parse_args()
    if a.quick:
        a.sizes, a.runs, a.slow = "16MiB,128MiB", "5,3", 5.0
    labels = a.sizes.split(",")
    sizes = [parse_size("--sizes", s) for s in labels]
    runs = [int(x) for x in a.runs.split(",")]
    if len(runs) != len(sizes):
        runs = [runs[0]] * len(sizes)
    if not redis_ok():
        print("no Redis at REDIS_URL / 127.0.0.1:6379", file=sys.stderr)
        return 1
    started = time.monotonic()
    print("## time to answer: last byte -> answer, new design (202 at spool) vs old (answer at ACTIVE)")
    print_machine()
    ns = new_namespace()
    children: list[Child] = []
    new: dict[tuple[int, float], list[float]] = {}
    new_srv: dict[tuple[int, float], list[float]] = {}
    base: dict[tuple[int, float], list[float]] = {}
    slow_detail: dict[int, dict[str, Any]] = {}
    with Workdir("tta") as wd:
        try:
            files = [make_payload(wd / f"p{i}.bin", s) for i, s in enumerate(sizes)]
            emu, emu_url = start_emulator(wd, "emulator-new")
            slow_emu, slow_url = start_emulator(wd, "emulator-slow", processing_delay=a.slow)
            children += [emu, slow_emu]
            sync_fast, sync_fast_port = start_helper(
                "_sync_server.py", ["--dir", str(wd / "sync0"), "--gemini-url", emu_url,
                                    "--poll-interval", str(a.poll_interval)], wd / "sync0.log")
            sync_slow, sync_slow_port = start_helper(
                "_sync_server.py", ["--dir", str(wd / "sync1"), "--gemini-url", slow_url,
                                    "--poll-interval", str(a.poll_interval)], wd / "sync1.log")
            children += [sync_fast, sync_slow]
            env = service_env(wd, ns, emu_url)
            fd, port = start_frontdoor(env, wd / "frontdoor.log")
            children.append(fd)
            worker = start_worker(env, wd / "worker.log")
            children.append(worker)

            # 1. the old design at the slow processing time, once per size, started first; its wait overlaps.
            threads = []
            for i, (size, file) in enumerate(zip(sizes, files, strict=True)):
                def slow_one(size: int = size, file: Path = file) -> None:
                    try:
                        r = send(sync_slow_port, file, path="/upload", timeout=a.slow + 900)[0]
                        slow_detail[size] = r
                        base.setdefault((size, a.slow), []).append(ms(r))
                    except Exception as exc:
                        slow_detail[size] = {"error": repr(exc)}
                t = threading.Thread(target=slow_one, daemon=True)
                t.start()
                threads.append(t)
                deadline = time.monotonic() + 900
                while finalized(slow_url) < i + 1 and time.monotonic() < deadline and t.is_alive():
                    time.sleep(0.1)  # its Gemini upload is done: from now on it only polls, which costs nothing
            print(f"# slow baseline uploads sent ({time.monotonic() - started:.0f} s); they now wait {a.slow:g} s "
                  f"for ACTIVE while the other phases run", flush=True)

            # 2. the old design at 0 s
            for size, file, n in zip(sizes, files, runs, strict=True):
                for _ in range(n):
                    r = send(sync_fast_port, file, path="/upload")[0]
                    assert r["status"] == 200, r
                    base.setdefault((size, 0.0), []).append(ms(r))
            print(f"# baseline at 0 s done ({time.monotonic() - started:.0f} s)", flush=True)

            # 3. the new design at 0 s and at the slow processing time
            send(port, files[0])  # warm-up
            for delay in (0.0, a.slow):
                control(emu_url, "POST", "config", {"processing_delay_s": delay})
                for size, file, n in zip(sizes, files, runs, strict=True):
                    for _ in range(n):
                        r = send(port, file)[0]
                        assert r["status"] == 202, r
                        new.setdefault((size, delay), []).append(ms(r))
                        job = r["body"]["jobId"]
                        doc = wait_job(port, job, {"PROCESSING", "ACTIVE", "FAILED"})
                        if doc["state"] == "FAILED":
                            raise RuntimeError(f"job failed: {doc}")
                        srv = server_ms(fd.text()).get(job)
                        if srv is not None:
                            new_srv.setdefault((size, delay), []).append(srv)
                        if a.detail:
                            print(f"#   {size} B at {delay:g} s: {ms(r):.1f} ms client, {srv} ms server, "
                                  f"t={time.monotonic() - started:.1f} s", flush=True)
                print(f"# new design at {delay:g} s done ({time.monotonic() - started:.0f} s)", flush=True)

            for t in threads:
                t.join(a.slow + 900)
            print(f"# slow baseline answered ({time.monotonic() - started:.0f} s)", flush=True)
        finally:
            for c in reversed(children):
                c.stop()
            redis_cleanup(ns)

    rows, summary = [], []
    for label, size in zip(labels, sizes, strict=True):
        for delay in (0.0, a.slow):
            xs, b = new.get((size, delay), []), base.get((size, delay), [])
            p50, p99 = median(xs), pct(xs, 99)
            bm = median(b)
            how = f"median of {len(b)}" if delay == 0 else "measured once, real wait"
            srv = median(new_srv.get((size, delay), []))
            rows.append([label, f"{delay:g} s", len(xs), fmt(p50), fmt(p99), fmt(srv),
                         fmt(bm, 0), how, f"{bm / p50:,.0f}x", "met" if p99 < 100 else "MISSED"])
            summary.append({"size": label, "processing_s": delay, "new_p50_ms": round(p50, 1),
                            "new_p99_ms": round(p99, 1), "baseline_ms": round(bm), "speedup": round(bm / p50, 1),
                            "target_p99_lt_100ms": p99 < 100})
    print()
    print(table(["size", "Gemini processing", "n", "new p50 ms", "new p99 ms", "new server-side p50 ms",
                 "old (sync) ms", "old measured", "old / new", "p99 < 100 ms"], rows))
    for label, size in zip(labels, sizes, strict=True):
        flat = median(new[(size, a.slow)]) / median(new[(size, 0.0)])
        d = slow_detail.get(size, {}).get("body") or slow_detail.get(size, {})
        parts = ", ".join(f"{k.removesuffix('_ms')} {v / 1000:.1f} s" for k, v in d.items() if k.endswith("_ms"))
        print(f"- {label}: new design p50 at {a.slow:g} s / at 0 s = {flat:.2f} (flat = 1.0); "
              f"old design at {a.slow:g} s, one real run: {parts or d}")
    print("(p99 is the nearest-rank percentile: with fewer than 100 runs it is the slowest run; "
          f"took {time.monotonic() - started:.0f} s)")
    emit_summary("time_to_answer", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
