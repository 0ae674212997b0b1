"""Redis round trips per request of the front door, counted with MONITOR.

    .venv/bin/python bench/redis_round_trips.py

Starts the front door (``focalpoint_upload.cli serve`` with REDIS_URL, no workers), warms it up (scripts loaded,
connections open), then watches Redis with MONITOR while it makes, one at a time: a single-request upload
(``POST /api/upload``, 1 MiB), status polls (allowed by jobId, allowed by attemptId, refused 429), and a tus
upload of 3 MiB in 1 MiB PATCHes (creation, a middle PATCH, the last PATCH, a HEAD).

Counted per step, for the front door's connections only (clients that touched this run's namespace):
- commands: what MONITOR shows, commands run inside a Lua script not counted (one EVALSHA is one command);
- round trips: the commands of one connection that Redis received together (a pipeline, MULTI...EXEC)
  count once. MONITOR does not say what arrived together: MULTI...EXEC counts as one, and otherwise commands
  of one connection less than 40 µs apart are taken as one round trip (a real round trip through Python takes
  longer than that here). On a busy machine a pipeline may still be counted as two.
The Dramatiq hand-off (the broker's enqueue) is part of the upload's count.
"""

from __future__ import annotations

import base64
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    REDIS_URL,
    MiB,
    Workdir,
    http_json,
    make_payload,
    new_namespace,
    print_machine,
    redis_cleanup,
    redis_ok,
    send,
    service_env,
    start_frontdoor,
    table,
)

GAP_S = 40e-6


class Monitor:
    def __init__(self) -> None:
        self.client = redis.Redis.from_url(REDIS_URL)
        self.lines: list[dict[str, Any]] = []
        self._mon = self.client.monitor()
        self._mon.__enter__()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for entry in self._mon.listen():
                self.lines.append(entry)
        except (redis.RedisError, OSError, ValueError, AttributeError):
            return

    def mark(self) -> int:
        time.sleep(0.2)  # let MONITOR deliver what the last step caused (a bench, not a test)
        return len(self.lines)

    def close(self) -> None:
        try:
            self._mon.connection.disconnect()
        except Exception:
            pass


def count(lines: list[dict[str, Any]], ns: str, ours: set[str]) -> tuple[int, int]:
    commands, trips = 0, 0
    last: dict[str, float] = {}
    in_multi: set[str] = set()
    for e in lines:
        if e.get("client_type") == "lua":
            continue
        who = f"{e.get('client_address')}:{e.get('client_port')}"
        if ns in e.get("command", ""):
            ours.add(who)
        if who not in ours:
            continue
        commands += 1
        t = float(e["time"])
        name = e.get("command", "").split(" ", 1)[0].upper()
        # MULTI...EXEC is sent as one pipeline; otherwise a gap means the client waited for an answer
        if who not in in_multi and (who not in last or t - last[who] > GAP_S):
            trips += 1
        if name == "MULTI":
            in_multi.add(who)
        elif name in ("EXEC", "DISCARD"):
            in_multi.discard(who)
        last[who] = t
    return commands, trips


def main() -> int:
    if not redis_ok():
        print("no Redis at REDIS_URL / 127.0.0.1:6379", file=sys.stderr)
        return 1
    print("## Redis commands and round trips per front-door request (MONITOR)")
    print_machine()
    ns = new_namespace()
    rows: list[list[Any]] = []
    with Workdir("rtt") as wd:
        env = service_env(wd, ns, "http://127.0.0.1:9", FOCALPOINT_TRUSTED_PROXIES="127.0.0.1",
                          FOCALPOINT_LIMIT_STATUS_PER_IP="3/minute")
        fd, port = start_frontdoor(env, wd / "frontdoor.log")
        mon: Monitor | None = None
        try:
            small = make_payload(wd / "f.bin", MiB)
            tus_file = make_payload(wd / "t.bin", 3 * MiB)
            # Warm-up: every script loaded, every pool has a connection.
            send(port, small, xff="192.0.2.1")
            _tus(port, tus_file, "192.0.2.1", [])
            mon = Monitor()
            steps: list[tuple[str, Any]] = []
            ours: set[str] = set()
            marks = [mon.mark()]

            def step(name: str, fn: Any) -> Any:
                out = fn()
                marks.append(mon.mark() if mon is not None else 0)
                steps.append((name, out))
                return out

            r = step("upload: POST /api/upload, 1 MiB (202)", lambda: http_json(
                port, "POST", "/api/upload", {"X-Forwarded-For": "192.0.2.2", "X-Attempt-Id": "rtt-attempt-0001",
                                              "Content-Type": "video/mp4"}, small.read_bytes()))
            assert r[0] == 202, r
            job_id = r[1]["jobId"]
            step("status by jobId (200)", lambda: http_json(port, "GET", f"/api/upload/status?jobId={job_id}",
                                                             {"X-Forwarded-For": "192.0.2.3"}))
            step("status by attemptId (200)", lambda: http_json(
                port, "GET", "/api/upload/status?attemptId=rtt-attempt-0001", {"X-Forwarded-For": "192.0.2.4"}))
            step("", lambda: [http_json(port, "GET", f"/api/upload/status?jobId={job_id}",  # not reported:
                                        {"X-Forwarded-For": "192.0.2.5"}) for _ in range(3)])  # uses up 3/minute
            step("status over the limit (429)", lambda: http_json(
                port, "GET", f"/api/upload/status?jobId={job_id}", {"X-Forwarded-For": "192.0.2.5"}))
            tus_steps: list[str] = []
            _tus(port, tus_file, "192.0.2.6", tus_steps, lambda name: (marks.append(mon.mark() if mon else 0),
                                                                       steps.append((name, None))))
            total_c = total_t = 0
            for i, (name, _) in enumerate(steps):
                c, t = count(mon.lines[marks[i]:marks[i + 1]], ns, ours)
                if name:
                    rows.append([name, c, t])
                    if "--verbose" in sys.argv:
                        print(f"# {name}")
                        for e in mon.lines[marks[i]:marks[i + 1]]:
                            who = f"{e.get('client_address')}:{e.get('client_port')}"
                            if e.get("client_type") != "lua" and who in ours:
                                print(f"#   {float(e['time']):.6f} {e.get('client_port')} {e['command'][:110]}")
                if name.startswith("tus"):
                    total_c, total_t = total_c + c, total_t + t
            rows.append(["tus upload in all (creation + 3 PATCHes + HEAD)", total_c, total_t])
        finally:
            if mon is not None:
                mon.close()
            fd.stop()
            redis_cleanup(ns)
    print()
    print(table(["request", "commands", "round trips"], rows))
    return 0


def _tus(port: int, file: Path, xff: str, names: list[str], after: Any = None) -> None:
    """Create a 3 MiB upload, PATCH it in 1 MiB pieces, HEAD it; ``after(name)`` after each measured step."""
    import http.client

    size = file.stat().st_size
    data = file.read_bytes()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    base = {"Tus-Resumable": "1.0.0", "X-Forwarded-For": xff}
    meta = "filetype " + base64.b64encode(b"video/mp4").decode()

    def ask(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> http.client.HTTPResponse:
        conn.request(method, path, body=body, headers={**base, **headers})
        answer = conn.getresponse()
        answer.read()
        return answer

    try:
        created = ask("POST", "/api/uploads", {"Upload-Length": str(size), "Upload-Metadata": meta})
        if after:
            after("tus: creation (201)")
        loc = created.getheader("Location") or ""
        path = "/" + loc.split("/", 3)[3] if "://" in loc else loc
        for n, offset in enumerate(range(0, size, MiB)):
            ask("PATCH", path, {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
                data[offset:offset + MiB])
            if after and n in (1, 2):
                after("tus: a middle PATCH (204)" if n == 1 else "tus: the last PATCH (204, completes)")
            elif after and n == 0:
                after("tus: the first PATCH (204)")
        ask("HEAD", path, {})
        if after:
            after("tus: HEAD of the finished upload")
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
