"""The real processes: separate serve + workers on one Redis, a worker killed with SIGKILL mid-upload, and the
embedded default (private Redis, in-process workers) started the way the README says."""

from __future__ import annotations

from pathlib import Path

from focalpoint_upload.gemini.emulator import EmulatorServer
from tests.e2e.test_pipeline import wait_state
from tests.helpers.http import attempt_id, upload_raw
from tests.helpers.procs import serve, worker
from tests.helpers.wait import wait_for

MiB = 1024 * 1024


def env_for(tmp_path: Path, emulator: EmulatorServer, redis_url: str | None, namespace: str) -> dict[str, str]:
    env = {"FOCALPOINT_DATA_DIR": str(tmp_path / "data"), "FOCALPOINT_REDIS_NAMESPACE": namespace,
           "GEMINI_BASE_URL": emulator.base_url, "GEMINI_API_KEY": emulator.api_key,
           "GEMINI_CHUNK_SIZE": "1MiB", "FOCALPOINT_MIN_FREE_SPACE": "1MiB",
           "FOCALPOINT_WORKER_HEARTBEAT_TIMEOUT": "2s", "FOCALPOINT_LIMIT_STATUS_PER_IP": "100000/minute"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def test_separate_serve_and_worker_processes_on_one_redis(tmp_path: Path, emulator: EmulatorServer,
                                                          redis_url: str, namespace: str) -> None:
    env = env_for(tmp_path, emulator, redis_url, namespace)
    front, port = serve(env, tmp_path / "serve.log")
    work = worker(env, tmp_path / "worker.log")
    try:
        r = upload_raw(port, 5 * MiB, attempt_id())
        assert r.status == 202
        doc = wait_state(port, r.json["jobId"], {"ACTIVE", "FAILED"})
        assert doc["state"] == "ACTIVE", doc
        assert '"workers":false' in front.text()  # the front door ran no workers: the worker process did
    finally:
        assert work.stop() == 0
        assert front.stop() == 0


def test_a_worker_killed_mid_upload_is_resumed_by_another_from_the_session_offset(
        tmp_path: Path, emulator: EmulatorServer, redis_url: str, namespace: str) -> None:
    size = 8 * MiB + 5
    env = env_for(tmp_path, emulator, redis_url, namespace)
    # The 4th chunk stalls: the worker is killed while it waits, with 3 MiB committed at Gemini.
    stall = emulator.emulator.add_fault("stall", "chunk", skip=3, seconds=30)
    front, port = serve(env, tmp_path / "serve.log")
    first = worker(env, tmp_path / "worker1.log")
    second = None
    try:
        r = upload_raw(port, size, attempt_id())
        assert r.status == 202
        job_id = r.json["jobId"]
        wait_for(lambda: stall.seen >= 4)  # the worker is inside the stalled chunk now
        first.kill()
        emulator.emulator.clear_faults()
        second = worker(env, tmp_path / "worker2.log")
        doc = wait_state(port, job_id, {"ACTIVE", "FAILED"}, timeout=60)
        assert doc["state"] == "ACTIVE", doc
        log = emulator.emulator.log()
        assert len([e for e in log if e["route"] == "start"]) == 1  # the session was resumed, not restarted
        assert len(emulator.emulator.files) == 1
        queried = [e for e in log if e["route"] == "query"]
        assert queried, "the second worker asked the server where to continue"
        after = [e for e in log if e["seq"] > queried[-1]["seq"] and e["route"] in ("chunk", "finalize")]
        assert after[0]["offset"] == 3 * MiB  # from the server's offset, not from zero
    finally:
        if second is not None:
            second.stop()
        first.stop()
        front.stop()


def test_the_embedded_default_runs_redis_and_workers_itself(tmp_path: Path, emulator: EmulatorServer,
                                                            namespace: str) -> None:
    env = env_for(tmp_path, emulator, None, namespace)
    front, port = serve(env, tmp_path / "serve.log")
    try:
        assert '"event":"embedded_redis_started"' in front.text()
        r = upload_raw(port, 3 * MiB, attempt_id())
        assert r.status == 202
        doc = wait_state(port, r.json["jobId"], {"ACTIVE", "FAILED"})
        assert doc["state"] == "ACTIVE", doc
        assert (tmp_path / "data" / "redis" / "focalpoint.db").exists() or any(
            (tmp_path / "data" / "redis").iterdir())
    finally:
        assert front.stop() == 0



def test_a_worker_killed_mid_stream_is_resumed_from_the_session_offset(
        tmp_path: Path, emulator: EmulatorServer, redis_url: str, namespace: str) -> None:
    """Stream-through: the worker forwarding a resumable upload that is still arriving is SIGKILLed inside a
    chunk; after the last PATCH another worker continues the same session from Gemini's offset."""
    from tests.e2e.test_stream_through import create, patch

    size = 8 * MiB + 5
    data = bytes(range(256)) * (size // 256) + b"\x00" * (size % 256)
    env = env_for(tmp_path, emulator, redis_url, namespace)
    stall = emulator.emulator.add_fault("stall", "chunk", skip=2, seconds=30)  # the 3rd chunk hangs
    front, port = serve(env, tmp_path / "serve.log")
    first = worker(env, tmp_path / "worker1.log")
    second = None
    try:
        loc = create(port, size)
        job_id = loc.rsplit("/", 1)[1]
        patch(port, loc, 0, data[:6 * MiB])
        wait_for(lambda: stall.seen >= 3)  # the stream run is inside the stalled chunk, 2 MiB at Gemini
        first.kill()
        emulator.emulator.clear_faults()
        second = worker(env, tmp_path / "worker2.log")
        patch(port, loc, 6 * MiB, data[6 * MiB:])
        doc = wait_state(port, job_id, {"ACTIVE", "FAILED"}, timeout=60)
        assert doc["state"] == "ACTIVE", doc
        log = emulator.emulator.log()
        assert len([e for e in log if e["route"] == "start"]) == 1  # one session from first byte to finalize
        [stored] = emulator.emulator.files.values()
        assert stored.size == size
        queried = [e for e in log if e["route"] == "query"]
        assert queried, "the second worker asked the server where to continue"
        after = [e for e in log if e["seq"] > queried[0]["seq"] and e["route"] in ("chunk", "finalize")]
        assert after[0]["offset"] == 2 * MiB  # from the server's offset, not from zero
    finally:
        if second is not None:
            second.stop()
        first.stop()
        front.stop()
