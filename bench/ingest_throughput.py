"""Ingest throughput of the front door (MB/s, peak RSS) against a socket sink on the same disk, same run.

    .venv/bin/python bench/ingest_throughput.py [--size 2GiB] [--repeats 3] [--parallel 8] [--parallel-size 256MiB]
                                                [--small 100MB] [--quick]

What runs (all loopback, each its own process): the front door as ``python -m focalpoint_upload.cli serve``
with REDIS_URL (no workers in it), the baseline ``bench/_sink.py`` (recv_into + os.write + fsync: the loopback
limit), and the client ``bench/_send.py`` (os.sendfile from a page-cached file). Cases, interleaved per repeat
so that machine noise hits both sides alike: raw body, multipart body, a small raw body, and N concurrent raw
uploads. Figures are medians over the repeats:

- MB/s to the answer: body bytes / (connect .. answer read), fsync included on both sides (the front door
  fsyncs before its 202; the sink fsyncs too). MB = 10^6 bytes.
- MB/s streaming: body bytes / (connect .. last byte handed to the kernel), no fsync.
- ratio = front door / sink (targets: raw >= 60 %, multipart >= 50 %).
- peak RSS: VmHWM of the front door process, reset before each upload (/proc/PID/clear_refs), target < 64 MiB.
- CPU: front door CPU seconds (all threads) per GB.
Spool files are deleted after each upload; the temp dir and the Redis namespace at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MB,
    Child,
    Workdir,
    clear_dir,
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
    start_frontdoor_and_sink,
    table,
)

from focalpoint_upload.config.parse import size as parse_size


def one(port: int, file: Path, mode: str, parallel: int, fd: Child | None, spool: Path | None) -> dict[str, Any]:
    if fd is not None:
        fd.reset_peak()
        cpu0 = fd.cpu_s()
    res = send(port, file, mode=mode, parallel=parallel)
    bad = [r for r in res if r.get("status") != 202]
    if bad:
        raise RuntimeError(f"upload failed: {bad[0]}")
    total = sum(r["bytes"] for r in res)
    t0 = min(r["t0"] for r in res)
    out = {"answer_mbs": total / (max(r["t_answer"] for r in res) - t0) / MB,
           "stream_mbs": total / (max(r["t_last"] for r in res) - t0) / MB,
           "tail_ms": median([(r["t_answer"] - r["t_last"]) * 1000 for r in res])}
    if fd is not None:
        out["rss"] = fd.peak_rss_mib()
        out["cpu_s_per_gb"] = (fd.cpu_s() - cpu0) / (total / 1e9)
        assert spool is not None
        clear_dir(spool)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="2GiB")
    ap.add_argument("--small", default="100MB", help="the small raw upload (RSS flat with size)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--parallel-size", default="256MiB")
    ap.add_argument("--quick", action="store_true", help="smoke check: 256 MiB, 2 repeats, 4 x 64 MiB")
    a = ap.parse_args()
    if a.quick:
        a.size, a.small, a.repeats, a.parallel, a.parallel_size = "256MiB", "32MiB", 2, 4, "64MiB"
    size, small, psize = parse_size("--size", a.size), parse_size("--small", a.small), parse_size("-", a.parallel_size)
    if not redis_ok():
        print("no Redis at REDIS_URL / 127.0.0.1:6379", file=sys.stderr)
        return 1
    started = time.monotonic()
    print("## ingest throughput: front door vs socket sink (same disk, same run)")
    print_machine()
    ns = new_namespace()
    children: list[Child] = []
    with Workdir("ingest") as wd:
        try:
            big, little, par = wd / "big.bin", wd / "small.bin", wd / "par.bin"
            make_payload(big, size)
            make_payload(little, small)
            make_payload(par, psize)
            env = service_env(wd, ns, "http://127.0.0.1:9")  # no worker runs: Gemini is never called
            fd, fd_port, sink_port = start_frontdoor_and_sink(wd, env, children)
            spool = wd / "data" / "spool"
            print(f"# front door pid {fd.pid}, idle RSS {fd.rss_mib():.1f} MiB; sizes: big {size} B, small {small} B, "
                  f"{a.parallel} x {psize} B concurrent; {a.repeats} repeats, interleaved")
            send(fd_port, little, mode="raw")  # warm-up (imports, Redis connections, first job)
            clear_dir(spool)
            cases = {
                "raw": (big, "raw", 1), "multipart": (big, "multipart", 1),
                "raw small": (little, "raw", 1), f"{a.parallel} concurrent raw": (par, "raw", a.parallel),
            }
            runs: dict[str, dict[str, list[dict[str, Any]]]] = {c: {"sink": [], "fd": []} for c in cases}
            for rep in range(a.repeats):
                for case, (file, mode, n) in cases.items():
                    runs[case]["sink"].append(one(sink_port, file, mode, n, None, None))
                    runs[case]["fd"].append(one(fd_port, file, mode, n, fd, spool))
                print(f"# repeat {rep + 1}/{a.repeats} done ({time.monotonic() - started:.0f} s)", flush=True)
        finally:
            for c in children:
                c.stop()
            redis_cleanup(ns)
    targets = {"raw": 0.60, "multipart": 0.50}
    rows, summary = [], []
    for case, r in runs.items():
        m = lambda side, key, r=r: median([x[key] for x in r[side]])  # noqa: E731
        ratio = m("fd", "answer_mbs") / m("sink", "answer_mbs")
        target = targets.get(case)
        rss = max(x["rss"] for x in r["fd"])
        label = {"raw": f"raw {a.size}", "multipart": f"multipart {a.size}", "raw small": f"raw {a.small}",
                 }.get(case, f"{a.parallel} x {a.parallel_size} raw, aggregate")
        verdict = "" if target is None else ("met" if ratio >= target else "MISSED")
        rows.append([label, fmt(m("sink", "answer_mbs"), 0), fmt(m("fd", "answer_mbs"), 0), f"{ratio:.0%}",
                     f">= {target:.0%} {verdict}" if target else "-",
                     fmt(m("sink", "stream_mbs"), 0), fmt(m("fd", "stream_mbs"), 0),
                     f"{m('fd', 'stream_mbs') / m('sink', 'stream_mbs'):.0%}",
                     fmt(m("fd", "tail_ms"), 0), f"{rss:.1f} ({'met' if rss < 64 else 'MISSED'})",
                     fmt(m("fd", "cpu_s_per_gb"), 2)])
        summary.append({"case": label, "sink_mbs": round(m("sink", "answer_mbs")),
                        "fd_mbs": round(m("fd", "answer_mbs")), "ratio": round(ratio, 3), "target": target,
                        "peak_rss_mib": round(rss, 1)})
    print()
    print(table(["case", "sink MB/s", "front door MB/s", "ratio", "target", "sink MB/s stream",
                 "fd MB/s stream", "ratio stream", "fd last byte->202 ms", "fd peak RSS MiB (<64)",
                 "fd CPU s/GB"], rows))
    print(f"\n(medians of {a.repeats} runs; 'to answer' includes each side's fsync; peak RSS is the max over runs; "
          f"took {time.monotonic() - started:.0f} s)")
    emit_summary("ingest_throughput", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
