"""The console script as a user meets it: clear refusals, the settings listing, a clean stop on SIGTERM or
SIGINT at any moment of start-up, a busy port in one line, and a private data directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from focalpoint_upload import procfs
from tests.helpers.http import attempt_id, request, upload_raw
from tests.helpers.procs import Proc, serve
from tests.security.test_data_dir import assert_private

CLI = [sys.executable, "-m", "focalpoint_upload.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FOCALPOINT_", "GEMINI_", "REDIS_URL"))}
    return subprocess.run([*CLI, *args], env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60)


def test_serve_refuses_to_start_without_a_way_to_reach_gemini(tmp_path: Path) -> None:
    r = run("serve", "--data-dir", str(tmp_path))
    assert r.returncode == 2
    assert "GEMINI_API_KEY" in r.stderr and "GEMINI_BASE_URL" in r.stderr and "--emulate-gemini" in r.stderr


def test_a_bad_setting_stops_the_start_with_the_variable_and_an_example(tmp_path: Path) -> None:
    r = run("serve", env={"GEMINI_API_KEY": "k", "FOCALPOINT_MAX_UPLOAD_SIZE": "lots"})
    assert r.returncode == 2
    assert "FOCALPOINT_MAX_UPLOAD_SIZE: 'lots' is not a size (for example FOCALPOINT_MAX_UPLOAD_SIZE=2GiB)" in r.stderr


def test_worker_and_sweep_need_redis_url() -> None:
    for command in ("worker", "sweep"):
        r = run(command, env={"GEMINI_API_KEY": "k"})
        assert r.returncode == 2 and "REDIS_URL" in r.stderr


def test_settings_lists_every_variable() -> None:
    from focalpoint_upload.config.settings import VARIABLES

    r = run("settings")
    assert r.returncode == 0
    for var in VARIABLES:
        assert var.env in r.stdout


def redis_servers(data: Path) -> list[int]:
    return procfs.redis_servers_in(data / "redis")


def test_emulate_gemini_serves_with_a_loud_banner_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"FOCALPOINT_DATA_DIR": str(data), "FOCALPOINT_LOG_FILE": str(data / "log" / "service.log"),
           "FOCALPOINT_MIN_FREE_SPACE": "1MiB"}
    proc, port = serve(env, tmp_path / "serve.log", "--emulate-gemini")
    try:
        assert "GEMINI EMULATOR MODE" in proc.text()
        assert port > 0
        assert len(redis_servers(data)) == 1
        assert upload_raw(port, 256 * 1024, attempt_id()).status == 202
        assert_private(data, including=("appendonly.aof", "service.log"))  # and the spool: 0600 in 0700 dirs
    finally:
        assert proc.stop() == 0
    assert redis_servers(data) == []
    assert_private(data)


# Moments of the start-up, each seen in the output: after the emulator started, after Redis started, once the
# front door listens but before readiness is announced, and right after readiness was announced.
START_UP_MOMENTS = ["GEMINI EMULATOR MODE", '"event":"embedded_redis_started"', '"event":"frontdoor_listening"',
                    "listening on http://"]


@pytest.mark.parametrize("moment", START_UP_MOMENTS)
def test_a_sigterm_at_any_moment_of_start_up_stops_everything_and_exits_0(tmp_path: Path, moment: str) -> None:
    data = tmp_path / "data"
    proc = Proc(["serve", "--port", "0", "--emulate-gemini"], {"FOCALPOINT_DATA_DIR": str(data)},
                tmp_path / "serve.log")
    try:
        proc.wait_for(moment.replace("(", r"\(").replace("+", r"\+"), timeout=60)
        proc.p.send_signal(signal.SIGTERM)
        assert proc.p.wait(30) == 0, proc.text()[-3000:]
    finally:
        proc.stop()
    assert "Traceback" not in proc.text()
    assert redis_servers(data) == []


def test_a_busy_port_is_one_line_naming_the_setting_exit_2_and_nothing_left_running(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        t0 = time.monotonic()
        r = run("serve", "--port", str(port), "--emulate-gemini", env={"FOCALPOINT_DATA_DIR": str(data)})
        took = time.monotonic() - t0
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines()
             if line.startswith("focalpoint-upload:") and not line.startswith("focalpoint-upload: WARNING:")]
    assert lines == [f"focalpoint-upload: port {port} is already in use on 127.0.0.1; choose another port "
                     "with --port or FOCALPOINT_PORT"], r.stderr
    assert "Traceback" not in r.stderr and "embedded_redis_started" not in r.stderr  # bound before Redis starts
    assert redis_servers(data) == []
    assert took < 30  # generous: it fails before anything starts (was 5.9 s and a leaked Redis)


def test_a_second_service_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first, port = serve({"FOCALPOINT_DATA_DIR": str(data)}, tmp_path / "first.log", "--emulate-gemini")
    try:
        r = run("serve", "--port", "0", "--emulate-gemini", env={"FOCALPOINT_DATA_DIR": str(data)})
        assert r.returncode == 2
        assert f"another focalpoint-upload (pid {first.p.pid}) is using the data directory" in r.stderr
        assert "Traceback" not in r.stderr
        assert request(port, "GET", "/healthz").status == 200 and len(redis_servers(data)) == 1
    finally:
        assert first.stop() == 0
    assert redis_servers(data) == []


def test_the_emulator_command_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = Proc(["emulator", "--port", "0"], {}, tmp_path / "emulator.log")
    try:
        proc.wait_for(r"gemini emulator on http://127.0.0.1:\d+")
        proc.p.send_signal(signal.SIGTERM)
        assert proc.p.wait(20) == 0
    finally:
        proc.stop()


def test_a_worker_stops_cleanly_on_a_sigterm_right_after_it_started(tmp_path: Path, redis_url: str,
                                                                  namespace: str) -> None:
    env = {"REDIS_URL": redis_url, "FOCALPOINT_REDIS_NAMESPACE": namespace, "GEMINI_API_KEY": "k",
           "FOCALPOINT_DATA_DIR": str(tmp_path / "data")}
    proc = Proc(["worker"], env, tmp_path / "worker.log")
    try:
        proc.wait_for('"event":"worker_started"')
        proc.p.send_signal(signal.SIGTERM)  # the moment the old code had not yet taken over its signals
        assert proc.p.wait(30) == 0, proc.text()[-2000:]
    finally:
        proc.stop()
    assert '"event":"worker_stopping"' in proc.text()
