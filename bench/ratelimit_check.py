"""How long one rate-limit check takes: p50/p99 in microseconds, on the real Redis and, as a baseline, in memory.

    .venv/bin/python bench/ratelimit_check.py [--redis-url redis://127.0.0.1:6379/0] [--checks 3000] [--budget 30]

Three kinds of check per storage: ``hit`` allowed (two round trips), ``hit`` denied (one) and ``peek`` (one).
Keys live under a namespace of their own (``fpbench-<random>``) and are deleted at the end, also on failure.
Bounded: each series stops at ``--checks`` or when the ``--budget`` seconds for the whole run are spent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from focalpoint_upload.ratelimit import Policy, RateLimiter

ALLOW = Policy("bench-allow", "100000000/hour")
DENY = Policy("bench-deny", "1/hour")


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000  # noqa: E731
    return pick(0.50), pick(0.99)


def series(check: Callable[[], object], count: int, deadline: float) -> list[int]:
    for _ in range(min(50, count)):  # warm-up: connections, script loading
        check()
    samples: list[int] = []
    while len(samples) < count and time.monotonic() < deadline:
        start = time.perf_counter_ns()
        check()
        samples.append(time.perf_counter_ns() - start)
    return samples


def run(name: str, limiter: RateLimiter, count: int, deadline: float) -> None:
    limiter.hit(DENY, "deny")  # use up the one allowed hit
    checks: dict[str, Callable[[], object]] = {
        "hit (allowed)": lambda: limiter.hit(ALLOW, "allow"),
        "hit (denied)": lambda: limiter.hit(DENY, "deny"),
        "peek": lambda: limiter.peek(ALLOW, "allow"),
    }
    for label, check in checks.items():
        samples = series(check, count, deadline)
        if not samples:
            print(f"{name:<8} {label:<14} (time budget spent)")
            continue
        p50, p99 = percentiles(samples)
        print(f"{name:<8} {label:<14} n={len(samples):<6} p50={p50:8.1f} us  p99={p99:8.1f} us")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("FOCALPOINT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds for the whole run")
    args = parser.parse_args()
    deadline = time.monotonic() + args.budget
    namespace = f"fpbench-{uuid.uuid4().hex[:12]}"

    memory = RateLimiter("memory://", namespace)
    run("memory", memory, args.checks, deadline)
    memory.close()

    client = redis.Redis.from_url(args.redis_url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"no Redis at {args.redis_url}: {exc}", file=sys.stderr)
        return 1
    limiter = RateLimiter(args.redis_url, namespace)
    try:
        run("redis", limiter, args.checks, deadline)
        if limiter.peek(ALLOW, "allow").degraded:
            print("warning: Redis checks were degraded (unreachable?)", file=sys.stderr)
    finally:
        limiter.close()
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
