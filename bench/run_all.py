"""Run every benchmark of bench/ one after the other and print one combined table at the end.

    .venv/bin/python bench/run_all.py [--quick] [--only ingest,gemini,...]

Each script runs as its own process with its defaults (or ``--quick``); their full output streams through,
and the ``BENCH-SUMMARY`` line each prints is collected into the combined table. ratelimit_check.py (an older
micro-benchmark of one limiter check) is run last. Total with defaults: about 11-12 minutes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, PY, ROOT, fmt, print_machine, table

SCRIPTS = {
    "time": "time_to_answer.py",
    "ingest": "ingest_throughput.py",
    "tus": "tus_ingest.py",
    "gemini": "gemini_leg.py",
    "status": "status_endpoint.py",
    "recovery": "recovery.py",
    "stream": "stream_through.py",
}


def run(script: str, quick: bool) -> tuple[dict[str, Any] | None, float, int]:
    argv = [PY, str(BENCH / script)] + (["--quick"] if quick else [])
    print(f"\n===== {script} {'--quick' if quick else ''}", flush=True)
    t0 = time.monotonic()
    summary = None
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT) as p:
        assert p.stdout is not None
        for line in p.stdout:
            if line.startswith("BENCH-SUMMARY "):
                summary = json.loads(line.removeprefix("BENCH-SUMMARY "))
            else:
                print(line, end="", flush=True)
    return summary, time.monotonic() - t0, p.returncode


def combined(results: dict[str, tuple[dict[str, Any] | None, float, int]]) -> list[list[str]]:
    rows: list[list[str]] = []
    for key, (s, took, _rc) in results.items():
        if s is None:
            rows.append([key, "(failed)", "-", "-", "-", f"{took:.0f}"])
            continue
        for r in s["rows"]:
            if key == "time":
                rows.append(["time to answer", f"{r['size']}, Gemini {r['processing_s']:g} s",
                             f"p50 {r['new_p50_ms']} ms, p99 {r['new_p99_ms']} ms",
                             f"sync handler {fmt(r['baseline_ms'], 0)} ms ({r['speedup']:,.0f}x)",
                             "p99 < 100 ms: " + ("met" if r["target_p99_lt_100ms"] else "MISSED"), f"{took:.0f}"])
            elif key == "ingest":
                target = r["target"]
                verdict = "-" if target is None else (
                    f">= {target:.0%}: " + ("met" if r["ratio"] >= target else "MISSED"))
                rows.append(["ingest", r["case"], f"{r['fd_mbs']} MB/s, peak RSS {r['peak_rss_mib']} MiB",
                             f"sink {r['sink_mbs']} MB/s ({r['ratio']:.0%})",
                             verdict + ("; RSS < 64 MiB: " + ("met" if r["peak_rss_mib"] < 64 else "MISSED")),
                             f"{took:.0f}"])
            elif key == "tus":
                if "p99_ms" in r:
                    rows.append(["tus ingest", r["case"], f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms",
                                 f"POST /api/upload last byte -> 202: p50 {r['single_p50_ms']} ms",
                                 "p99 < 100 ms: " + ("met" if r["target_p99_lt_100ms"] else "MISSED"),
                                 f"{took:.0f}"])
                else:
                    target = r["target"]
                    rows.append(["tus ingest", r["case"], f"{r['mbs']} MB/s",
                                 f"{r['vs_single']:.0%} of POST /api/upload, {r['vs_sink']:.0%} of the sink",
                                 "-" if target is None else f">= {target:.0%} of single: "
                                 + ("met" if r["vs_single"] >= target else "MISSED"), f"{took:.0f}"])
            elif key == "gemini":
                rows.append(["Gemini leg", r["impl"], f"{r['mbs']} MB/s, peak RSS {r['peak_rss_mib']} MiB",
                             f"{r['resent_mib_after_drop']} MiB re-sent after a drop at 50 %", "-", f"{took:.0f}"])
            elif key == "status":
                rows.append(["status endpoint", r["case"], f"{r['rps']} req/s",
                             f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, CPU {r['cpu_ms_per_req']} ms/req", "-",
                             f"{took:.0f}"])
            elif key == "stream":
                on = r["case"].startswith("stream-through on")
                rows.append(["stream-through", r["case"], f"last byte -> finalize {r['finalize_s']} s",
                             f"first byte -> ACTIVE {r['active_s']} s; Gemini had {r['gemini_before_mb']} MB "
                             "before the last byte", ("< 2 s: " + ("met" if r["finalize_s"] < 2 else "MISSED"))
                             if on else "-", f"{took:.0f}"])
            elif key == "recovery":
                rows.append(["recovery", f"heartbeat {r['heartbeat']}", f"resumed after {r['resumed_s']} s",
                             f"ACTIVE after {r['active_s']} s", "-", f"{took:.0f}"])
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=",".join(SCRIPTS), help=f"comma-separated subset of {', '.join(SCRIPTS)}")
    a = ap.parse_args()
    started = time.monotonic()
    results = {}
    for key in a.only.split(","):
        results[key] = run(SCRIPTS[key], a.quick)
    if "status" in a.only.split(","):
        print("\n===== ratelimit_check.py", flush=True)
        subprocess.run([PY, str(BENCH / "ratelimit_check.py"), "--checks", "300" if a.quick else "3000"], cwd=ROOT)
    print("\n===== combined")
    print_machine()
    print(table(["benchmark", "case", "figure (median)", "baseline (same run) or detail", "target", "script s"],
                combined(results)))
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 0 if all(rc == 0 for _, _, rc in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
