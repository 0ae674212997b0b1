"""HTTP/1.1 keep-alive load generator (asyncio, raw streams), run as its own process.

    python bench/_load.py --port P --path PATH [--conns 16] [--seconds 8] [--max-requests 1000000]
                          [--ips unique|per-conn] [--warmup 1] [--header 'If-None-Match: "x"']

Closed loop: every connection sends its next GET as soon as the previous answer is read. ``--ips unique``:
each request carries a new X-Forwarded-For (10.x.y.z from a counter: a new simulated client every time);
``per-conn``: one address per connection (a client that polls in a loop). After ``--warmup`` seconds (not
counted) it measures for ``--seconds``. Prints JSON: requests, rps, p50/p99 latency in ms, status counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


def ip(n: int) -> str:
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--max-requests", type=int, default=1_000_000)
    p.add_argument("--ips", choices=("unique", "per-conn"), default="unique")
    p.add_argument("--ip-offset", type=int, default=0, help="first address number (keeps runs apart)")
    p.add_argument("--header", action="append", default=[], help="an extra request header 'Name: value'")
    a = p.parse_args()
    counter = [a.ip_offset]
    lat: list[float] = []
    codes: dict[int, int] = {}
    start = time.monotonic()
    t_measure = start + a.warmup
    t_end = t_measure + a.seconds
    counted = [0]
    extra = "".join(f"{h}\r\n" for h in a.header)

    async def conn(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
        try:
            while True:
                now = time.monotonic()
                if now >= t_end or counted[0] >= a.max_requests:
                    return
                if a.ips == "unique":
                    counter[0] += 1
                    addr = ip(counter[0])
                else:
                    addr = ip(a.ip_offset + i + 1)
                writer.write(f"GET {a.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: {addr}\r\n{extra}\r\n"
                             .encode())
                t0 = time.monotonic()
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                t1 = time.monotonic()
                if t0 >= t_measure and t1 <= t_end:
                    lat.append(t1 - t0)
                    codes[status] = codes.get(status, 0) + 1
                    counted[0] += 1
        finally:
            writer.close()

    await asyncio.gather(*(conn(i) for i in range(a.conns)))
    lat.sort()
    n = len(lat)
    pick = lambda q: lat[min(n - 1, max(0, int(-(-q * n // 100)) - 1))] * 1000 if n else float("nan")  # noqa: E731
    json.dump({"requests": n, "rps": n / a.seconds, "p50_ms": pick(50), "p99_ms": pick(99),
               "codes": codes, "ips_used": counter[0] - a.ip_offset}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
