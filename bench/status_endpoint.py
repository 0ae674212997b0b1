"""Status endpoint under load: requests/s and latency of ``GET /api/upload/status`` with the limiter on.

    .venv/bin/python bench/status_endpoint.py [--conns 16] [--seconds 8] [--repeats 3] [--quick]

The front door runs as ``focalpoint_upload.cli serve`` (REDIS_URL, the real limiter on Redis, the default
status limit of 60/minute per IP, FOCALPOINT_TRUSTED_PROXIES=127.0.0.1) and is polled for one real job by
``bench/_load.py`` (its own process, asyncio, keep-alive, closed loop, ``--conns`` connections). The client
address of each request is its X-Forwarded-For. Cases, interleaved per repeat:

- allowed: every request from a new simulated client (a new address), so the limiter counts and allows:
  limiter hit (Redis) + job read (Redis) + JSON;
- unchanged (304): like allowed, with the job's ETag in ``If-None-Match`` (most polls see an unchanged job);
- rejected (429): one address per connection, each already over its 60/minute (a 3 s warm-up, not counted,
  uses it up): limiter hit, then 429;
- baseline: a bare Tornado handler returning a constant JSON document (``bench/_const_server.py``): no
  limiter, no Redis, no thread pool, same load generator.

Figures: requests/s, p50 and p99 latency (medians over repeats), and server CPU per request (ms, all threads
of the server process, from /proc), which is the cost of a request and so of a 429.
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
    PY,
    ROOT,
    Child,
    MiB,
    Workdir,
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
    start_frontdoor,
    start_helper,
    table,
)


def load(port: int, path: str, server: Child, a: argparse.Namespace, ips: str, offset: int,
         warmup: float | None = None, headers: tuple[str, ...] = ()) -> dict[str, Any]:
    warmup = a.warmup if warmup is None else warmup
    cpu0 = server.cpu_s()
    out = subprocess.run([PY, str(BENCH / "_load.py"), "--port", str(port), "--path", path, "--conns", str(a.conns),
                          "--seconds", str(a.seconds), "--warmup", str(warmup), "--ips", ips,
                          "--ip-offset", str(offset), *(x for h in headers for x in ("--header", h))],
                         capture_output=True, text=True, timeout=a.seconds + 120, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"_load.py failed: {out.stderr[-2000:]}")
    r = json.loads(out.stdout)
    total = r["requests"] * (a.seconds + warmup) / a.seconds  # CPU covers the warm-up too
    r["cpu_ms_per_req"] = (server.cpu_s() - cpu0) * 1000 / max(1.0, total)
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke check: 2 s per case, 2 repeats")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.repeats, a.warmup = 2.0, 2, 0.5
    if not redis_ok():
        print("no Redis at REDIS_URL / 127.0.0.1:6379", file=sys.stderr)
        return 1
    started = time.monotonic()
    print("## status endpoint: GET /api/upload/status with the limiter on, vs a bare Tornado handler")
    print_machine()
    ns = new_namespace()
    children: list[Child] = []
    runs: dict[str, list[dict[str, Any]]] = {"allowed": [], "unchanged": [], "rejected": [], "baseline": []}
    with Workdir("status") as wd:
        try:
            env = service_env(wd, ns, "http://127.0.0.1:9", FOCALPOINT_TRUSTED_PROXIES="127.0.0.1",
                              FOCALPOINT_LIMIT_STATUS_PER_IP="60/minute")
            fd, port = start_frontdoor(env, wd / "frontdoor.log")
            children.append(fd)
            const, const_port = start_helper("_const_server.py", [], wd / "const.log")
            children.append(const)
            r = send(port, make_payload(wd / "f.bin", MiB), xff="192.0.2.1")[0]
            assert r["status"] == 202, r
            path = f"/api/upload/status?jobId={r['body']['jobId']}"
            etag = _etag(port, path)
            offset = 1 << 20
            for rep in range(a.repeats):
                runs["baseline"].append(load(const_port, path, const, a, "unique", 0))
                runs["allowed"].append(load(port, path, fd, a, "unique", offset))
                offset += runs["allowed"][-1]["ips_used"] + 1000
                runs["unchanged"].append(load(port, path, fd, a, "unique", offset,
                                              headers=(f"If-None-Match: {etag}",)))
                offset += runs["unchanged"][-1]["ips_used"] + 1000
                # the same addresses every repeat; the longer warm-up uses up their 60/minute before measuring
                runs["rejected"].append(load(port, path, fd, a, "per-conn", 0, warmup=max(a.warmup, 3.0)))
                print(f"# repeat {rep + 1}/{a.repeats} done ({time.monotonic() - started:.0f} s)", flush=True)
        finally:
            for c in children:
                c.stop()
            redis_cleanup(ns)
    base_rps = median([x["rps"] for x in runs["baseline"]])
    base_cpu = median([x["cpu_ms_per_req"] for x in runs["baseline"]])
    rows, summary = [], []
    names = {"allowed": "status, limiter on, allowed (200)", "unchanged": "status, If-None-Match, unchanged (304)",
             "rejected": "status, limiter on, rejected (429)", "baseline": "baseline: bare Tornado, constant JSON"}
    for case in ("allowed", "unchanged", "rejected", "baseline"):
        rs = runs[case]
        rps, cpu = median([x["rps"] for x in rs]), median([x["cpu_ms_per_req"] for x in rs])
        codes: dict[str, int] = {}
        for x in rs:
            for k, v in x["codes"].items():
                codes[k] = codes.get(k, 0) + v
        rows.append([names[case], fmt(rps, 0), fmt(median([x["p50_ms"] for x in rs]), 2),
                     fmt(median([x["p99_ms"] for x in rs]), 2), fmt(cpu, 3), f"{rps / base_rps:.2f}",
                     f"{cpu / base_cpu:.1f}", " ".join(f"{k}:{v}" for k, v in sorted(codes.items()))])
        summary.append({"case": case, "rps": round(rps), "p50_ms": round(median([x["p50_ms"] for x in rs]), 2),
                        "p99_ms": round(median([x["p99_ms"] for x in rs]), 2), "cpu_ms_per_req": round(cpu, 3)})
    print()
    print(table(["case", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "req/s vs baseline",
                 "CPU vs baseline", "answers (all repeats)"], rows))
    print(f"\n({a.conns} keep-alive connections, closed loop, {a.seconds:g} s measured after {a.warmup:g} s warm-up, "
          f"medians of {a.repeats} repeats; the load generator shares the 2 cores; "
          f"took {time.monotonic() - started:.0f} s)")
    by_case = {x["case"]: x for x in summary}
    poll, unchanged = by_case["allowed"]["rps"] / base_rps, by_case["unchanged"]["rps"] / base_rps
    cost_429 = by_case["rejected"]["cpu_ms_per_req"] / max(1e-9, by_case["allowed"]["cpu_ms_per_req"])
    print(f"\ntargets: status poll {poll:.2f}x of bare Tornado (>= 0.5x: {'met' if poll >= 0.5 else 'NOT met'}); "
          f"304 {unchanged:.2f}x (>= 0.6x: {'met' if unchanged >= 0.6 else 'NOT met'}); "
          f"a 429 costs {cost_429:.2f} of a 200 in server CPU (<= 0.5: {'met' if cost_429 <= 0.5 else 'NOT met'})")
    emit_summary("status_endpoint", summary)
    return 0


def _etag(port: int, path: str) -> str:
    """The job's current ETag, from one poll (from an address of its own, so it counts against nobody)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"X-Forwarded-For": "192.0.2.200"})
        answer = conn.getresponse()
        answer.read()
        etag = answer.getheader("ETag")
    finally:
        conn.close()
    if answer.status != 200 or not etag:
        raise RuntimeError(f"no ETag from {path}: {answer.status}")
    return etag


if __name__ == "__main__":
    sys.exit(main())
