"""The console script as a user meets it: clear refusals, the settings listing, a clean stop on SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.procs import serve

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
    from config.settings import VARIABLES

    r = run("settings")
    assert r.returncode == 0
    for var in VARIABLES:
        assert var.env in r.stdout


def test_emulate_gemini_serves_with_a_loud_banner_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc, port = serve({"FOCALPOINT_DATA_DIR": str(tmp_path / "data")}, tmp_path / "serve.log", "--emulate-gemini")
    try:
        assert "GEMINI EMULATOR MODE" in proc.text()
        assert port > 0
    finally:
        assert proc.stop() == 0
