"""Resumable (tus) ingest: MB/s of a PATCH sequence against the single-request path and the socket sink, and
the last PATCH's time to answer, all in the same run.

    .venv/bin/python bench/tus_ingest.py [--size 1GiB] [--chunks 8MiB,32MiB,64MiB] [--repeats 3]
                                         [--latency-size 2GiB] [--latency-chunk 32MiB] [--latency-runs 5] [--quick]

What runs (all loopback, each its own process): the front door as ``python -m focalpoint_upload.cli serve``
with REDIS_URL (no workers in it), the baseline ``bench/_sink.py`` (recv_into + os.write + fsync: the loopback
limit), and two clients that send with ``os.sendfile`` from a page-cached file: ``bench/_send.py`` (one
``POST /api/upload``) and ``bench/_tus_send.py`` (``POST /api/uploads``, then one PATCH per chunk over one
keep-alive connection, as tus-js-client and tuspy do). Cases are interleaved per repeat so machine noise hits
all alike; figures are medians over the repeats. MB = 10^6 bytes.

1. Throughput, ``--size`` bytes: MB/s from connect to the last answer (creation and every PATCH round trip
   included for tus; each side's fsync included) for the sink, the single request and tus at each chunk
   size; ratios to the single request (target at 32 MiB chunks: >= 80 %) and to the sink. For tus also the
   median PATCH's last byte -> 204 (all but the final PATCH) and the share of the upload's time that the
   connection spent between a PATCH's last byte and its answer (no body bytes flowing).
2. Last PATCH -> answer, ``--latency-size`` bytes, ``--latency-runs`` uploads: time from the last byte of the
   final PATCH handed to the kernel to its 204 read (the fsync, rename, sha256 and hand-over to the actors
   all happen in it), p50/p99 (nearest rank: below 100 runs p99 is the slowest). Target p99 < 100 ms. The
   single request's last byte -> 202 at the same size is measured in the same runs, as the baseline.
Spool files are deleted after each upload; the temp dir and the Redis namespace at the end.
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

from _common import (
    BENCH,
    MB,
    PY,
    ROOT,
    Child,
    Workdir,
    clear_dir,
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
    start_frontdoor_and_sink,
    table,
)

from focalpoint_upload.config.parse import size as parse_size

TARGET_RATIO = 0.80  # tus at 32 MiB chunks vs the single request
TARGET_P99_MS = 100.0


def tus_send(port: int, file: Path, chunk: int, timeout: float = 600) -> dict[str, Any]:
    out = subprocess.run([PY, str(BENCH / "_tus_send.py"), "--port", str(port), "--file", str(file),
                          "--chunk", str(chunk)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"_tus_send.py failed: {out.stderr[-2000:]}")
    res: dict[str, Any] = json.loads(out.stdout)
    if res.get("status") != 204 or res.get("offset") != file.stat().st_size:
        raise RuntimeError(f"tus upload failed: {res}")
    return res


def single(port: int, file: Path) -> dict[str, Any]:
    res = send(port, file, mode="raw")[0]
    if res.get("status") != 202:
        raise RuntimeError(f"upload failed: {res}")
    return res


def figures(res: dict[str, Any]) -> dict[str, float]:
    out = {"mbs": res["bytes"] / (res["t_answer"] - res["t0"]) / MB,
           "tail_ms": (res["t_answer"] - res["t_last"]) * 1000}
    if "patch_tails" in res:  # tus: the median PATCH's last byte -> answer, and the share of time they add up to
        out["patch_ms"] = median(res["patch_tails"][:-1] or res["patch_tails"]) * 1000
        out["idle_share"] = sum(res["patch_tails"]) / (res["t_answer"] - res["t0"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1GiB", help="file size of the throughput runs (e.g. 2GiB)")
    ap.add_argument("--chunks", default="8MiB,32MiB,64MiB", help="tus chunk sizes (each <= the max append)")
    ap.add_argument("--repeats", type=int, default=3, help="throughput runs per case (median)")
    ap.add_argument("--latency-size", default="2GiB", help="file size of the last PATCH -> answer runs (0: skip)")
    ap.add_argument("--latency-chunk", default="32MiB")
    ap.add_argument("--latency-runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smoke check: 256 MiB, 2 repeats, latency 256 MiB x 3")
    a = ap.parse_args()
    if a.quick:
        a.size, a.repeats, a.latency_size, a.latency_runs = "256MiB", 2, "256MiB", 3
    size, lsize = parse_size("--size", a.size), parse_size("--latency-size", a.latency_size)
    chunks = [(c.strip(), parse_size("--chunks", c.strip())) for c in a.chunks.split(",") if c.strip()]
    lchunk = parse_size("--latency-chunk", a.latency_chunk)
    if not redis_ok():
        print("no Redis at REDIS_URL / 127.0.0.1:6379", file=sys.stderr)
        return 1
    started = time.monotonic()
    print("## tus ingest: PATCH sequence vs one POST /api/upload vs socket sink (same disk, same run)")
    print_machine()
    ns = new_namespace()
    children: list[Child] = []
    cases = ["sink", "single", *(f"tus {label}" for label, _ in chunks)]
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in cases}
    lat_tus: list[float] = []
    lat_single: list[float] = []
    with Workdir("tus") as wd:
        try:
            big = make_payload(wd / "big.bin", size)
            warm = make_payload(wd / "warm.bin", min(size, 8 * 2**20))
            env = service_env(wd, ns, "http://127.0.0.1:9",  # no worker runs: Gemini is never called
                              FOCALPOINT_UPLOAD_REQUESTS_PER_MINUTE="1000000")
            fd, fd_port, sink_port = start_frontdoor_and_sink(wd, env, children)
            spool = wd / "data" / "spool"
            print(f"# front door pid {fd.pid}; throughput {size} B x {a.repeats} repeats, chunks "
                  f"{', '.join(label for label, _ in chunks)}; latency {lsize} B x {a.latency_runs} "
                  f"({a.latency_chunk} chunks); interleaved", flush=True)
            single(fd_port, warm)  # warm-up: imports, Redis connections, first job of each path
            tus_send(fd_port, warm, chunks[0][1])
            clear_dir(spool)
            for rep in range(a.repeats):
                runs["sink"].append(figures(single(sink_port, big)))
                runs["single"].append(figures(single(fd_port, big)))
                clear_dir(spool)
                for label, chunk in chunks:
                    runs[f"tus {label}"].append(figures(tus_send(fd_port, big, chunk)))
                    clear_dir(spool)
                print(f"# throughput repeat {rep + 1}/{a.repeats} done ({time.monotonic() - started:.0f} s)",
                      flush=True)
            if lsize and a.latency_runs:
                lfile = big if lsize == size else make_payload(wd / "latency.bin", lsize)
                for _ in range(a.latency_runs):
                    lat_tus.append(figures(tus_send(fd_port, lfile, lchunk))["tail_ms"])
                    clear_dir(spool)
                    lat_single.append(figures(single(fd_port, lfile))["tail_ms"])
                    clear_dir(spool)
                print(f"# latency runs done ({time.monotonic() - started:.0f} s)", flush=True)
        finally:
            for c in children:
                c.stop()
            redis_cleanup(ns)
    m = {c: median([x["mbs"] for x in r]) for c, r in runs.items()}
    rows, summary = [], []
    for c in cases:
        vs_single, vs_sink = m[c] / m["single"], m[c] / m["sink"]
        target = "-"
        if c == "tus 32MiB":
            target = f">= {TARGET_RATIO:.0%} of single: " + ("met" if vs_single >= TARGET_RATIO else "MISSED")
        label = {"sink": "sink (_sink.py, one request)", "single": "POST /api/upload (one request)"}.get(
            c, f"tus, {c.removeprefix('tus ')} PATCHes")
        per_patch = [x["patch_ms"] for x in runs[c] if "patch_ms" in x]
        idle = [x["idle_share"] for x in runs[c] if "idle_share" in x]
        rows.append([label, fmt(m[c], 0), f"{vs_single:.0%}", f"{vs_sink:.0%}",
                     fmt(median([x["tail_ms"] for x in runs[c]]), 1), fmt(median(per_patch), 1),
                     f"{median(idle):.0%}" if idle else "-", target])
        summary.append({"case": label, "mbs": round(m[c]), "vs_single": round(vs_single, 3),
                        "vs_sink": round(vs_sink, 3), "target": TARGET_RATIO if c == "tus 32MiB" else None})
    print()
    print(f"### throughput, {a.size}, median of {a.repeats}")
    print(table(["case", "MB/s", "vs single", "vs sink", "last byte->answer ms", "PATCH last byte->204 ms",
                 "share waiting for 204s", "target"], rows))
    if lat_tus:
        p99 = pct(lat_tus, 99)
        met = p99 < TARGET_P99_MS
        print()
        print(f"### last PATCH -> answer, {a.latency_size}, {a.latency_chunk} chunks, {len(lat_tus)} runs")
        print(table(["path", "n", "p50 ms", "p99 ms", "max ms", "target"],
                    [["tus, last PATCH -> 204", len(lat_tus), fmt(pct(lat_tus, 50)), fmt(p99), fmt(max(lat_tus)),
                      f"p99 < {TARGET_P99_MS:g} ms: " + ("met" if met else "MISSED")],
                     ["POST /api/upload, last byte -> 202", len(lat_single), fmt(pct(lat_single, 50)),
                      fmt(pct(lat_single, 99)), fmt(max(lat_single)), "-"]]))
        summary.append({"case": f"last PATCH -> answer, {a.latency_size}", "p50_ms": round(pct(lat_tus, 50), 1),
                        "p99_ms": round(p99, 1), "single_p50_ms": round(pct(lat_single, 50), 1),
                        "target_p99_lt_100ms": met})
    print(f"\n(MB/s: bytes / (connect .. last answer read), fsync included; took {time.monotonic() - started:.0f} s)")
    emit_summary("tus_ingest", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
