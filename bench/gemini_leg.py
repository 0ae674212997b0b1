"""The Gemini leg: our resumable uploader vs the google-genai SDK's ``files.upload``, same file, same emulator.

    .venv/bin/python bench/gemini_leg.py [--size 1GiB] [--repeats 5] [--chunk 8MiB] [--quick]

Each upload runs in a fresh process (``bench/_gemini_client.py``) against one emulator process (Google's 8 MiB
granularity), alternating ours / SDK per repeat. Figures (medians over the repeats):

- MB/s: file bytes / wall time of the upload call (MB = 10^6 bytes);
- peak RSS of the client process (VmHWM), and its RSS after imports, before the upload;
- dropped connection at 50 %: the emulator cuts the connection half-way through the chunk that holds the
  file's midpoint (``drop_request`` fault; it keeps what arrived in whole 8 MiB granules, as Google does).
  Re-sent bytes = bytes the emulator received on chunk requests - file size. Ours resumes (query, continue)
  in the same call; the SDK's call fails: we report its error, then do what its caller can do, start
  ``files.upload`` again from byte 0, and count those bytes too.
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
    Workdir,
    control,
    emit_summary,
    fmt,
    make_payload,
    median,
    print_machine,
    start_emulator,
    table,
)

from focalpoint_upload.config.parse import size as parse_size


def client(impl: str, file: Path, base_url: str, chunk: str, restart: bool = False) -> dict[str, Any]:
    argv = [PY, str(BENCH / "_gemini_client.py"), "--impl", impl, "--file", str(file), "--base-url", base_url,
            "--chunk", chunk]
    if restart:
        argv.append("--sdk-restart")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"_gemini_client.py failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def wire(base_url: str, size: int) -> dict[str, int]:
    log = control(base_url, "GET", "log")["log"]
    body = [e for e in log if e["route"] in ("chunk", "finalize")]
    return {"sent": sum(e["bytes"] for e in body), "resent": sum(e["bytes"] for e in body) - size,
            "sessions": sum(1 for e in log if e["route"] == "start"),
            "queries": sum(1 for e in log if e["route"] == "query"),
            "finals": sum(1 for e in log if e["route"] == "finalize" and e["status"] == 200)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk", default="8MiB", help="chunk size of both clients (the SDK's is fixed at 8 MiB)")
    ap.add_argument("--quick", action="store_true", help="smoke check: 128 MiB, 2 repeats")
    a = ap.parse_args()
    if a.quick:
        a.size, a.repeats = "128MiB", 2
    size = parse_size("--size", a.size)
    chunk = parse_size("--chunk", a.chunk)
    started = time.monotonic()
    print("## Gemini leg: our resumable uploader vs google-genai files.upload (emulator, loopback)")
    print_machine()
    res: dict[str, list[dict[str, Any]]] = {"ours": [], "sdk": []}
    drops: dict[str, dict[str, Any]] = {}
    with Workdir("gemini") as wd:
        emu = None
        try:
            file = make_payload(wd / "file.bin", size)
            emu, url = start_emulator(wd)
            for rep in range(a.repeats):
                for impl in ("ours", "sdk") if rep % 2 == 0 else ("sdk", "ours"):
                    control(url, "POST", "reset")
                    r = client(impl, file, url, a.chunk)
                    if not r.get("ok"):
                        raise RuntimeError(f"{impl} upload failed: {r}")
                    r.update(wire(url, size))
                    res[impl].append(r)
                print(f"# repeat {rep + 1}/{a.repeats} done ({time.monotonic() - started:.0f} s)", flush=True)
            # dropped connection half-way
            k = (size // 2) // chunk  # the chunk that holds the midpoint (0-based); the last one is "finalize"
            after = max(1, size // 2 - k * chunk) if size // 2 - k * chunk else chunk // 2
            route = "finalize" if (k + 1) * chunk >= size else "chunk"
            for impl in ("ours", "sdk"):
                control(url, "POST", "reset")
                control(url, "POST", "faults", {"kind": "drop_request", "routes": route, "skip": k if route == "chunk"
                                                else 0, "after_bytes": after, "times": 1})
                r = client(impl, file, url, a.chunk, restart=True)
                r.update(wire(url, size))
                drops[impl] = r
        finally:
            if emu is not None:
                emu.stop()
    rows, summary = [], []
    for impl, name in (("ours", "ours (gemini/uploader.py)"), ("sdk", "google-genai files.upload")):
        rs = res[impl]
        mbs = median([size / r["seconds"] / MB for r in rs])
        d = drops[impl]
        if impl == "ours":
            what = f"resumed in the same call ({d['queries']} query, {d['sessions']} session), ok={d.get('ok')}"
        else:
            what = (f"call failed: {d.get('error', 'no error?')}; restarted from 0: "
                    f"ok={d.get('ok_after_restart', d.get('ok'))}, {d['sessions']} sessions")
        rows.append([name, fmt(mbs, 0), fmt(median([r["peak_rss_mib"] for r in rs])),
                     fmt(median([r["rss_before_mib"] for r in rs])), fmt(d["resent"] / 2**20, 1), what])
        peak = median([r["peak_rss_mib"] for r in rs])
        summary.append({"impl": impl, "mbs": round(mbs), "peak_rss_mib": round(peak, 1),
                        "resent_mib_after_drop": round(d["resent"] / 2**20, 1)})
    ours, sdk = summary
    print()
    print(table(["client", "MB/s", "peak RSS MiB", "RSS after imports MiB", "MiB re-sent after a drop at 50 %",
                 "after the drop"], rows))
    print(f"\nours / SDK speed: {ours['mbs'] / sdk['mbs']:.2f}x; file {a.size} ({size} B), chunk {a.chunk}, "
          f"emulator granularity 8 MiB; medians of {a.repeats} runs; drop at byte {k * chunk + after} "
          f"({(k * chunk + after) / size:.0%}); took {time.monotonic() - started:.0f} s")
    emit_summary("gemini_leg", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
