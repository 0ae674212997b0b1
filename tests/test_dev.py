"""``./dev``: what it says and does when the machine lacks something the suite needs (its functions, sourced)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"


def run(script: str, dev: Path = ROOT / "dev", **env: str) -> subprocess.CompletedProcess[str]:
    """Source ``dev`` in bash and run ``script``; the environment is this one plus ``env``."""
    full = {**os.environ, **env}
    full.pop("CI", None)
    full.update(env)
    return subprocess.run(["bash", "-c", f'set -euo pipefail; source "{dev}"; {script}'], env=full,
                          capture_output=True, text=True, timeout=60)


def test_outside_ci_a_missing_interpreter_is_skipped_and_named() -> None:
    # This interpreter's directory first on PATH: python3.X of the running version is found, 3.99 is not.
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    r = run(f'PYS=({MINOR} 3.99); pick_envs; echo "ENVS=$ENVS"', PATH=path)
    assert r.returncode == 0, r.stderr
    assert f"ENVS=lint,type,js,py{MINOR.replace('.', '')}" in r.stdout  # this machine has Node (the js env)
    assert "no Python 3.99 on PATH" in r.stderr
    assert "pyenv install 3.X" in r.stderr  # how to get it
    assert "skipping py399" in r.stderr


def test_under_ci_a_missing_interpreter_fails() -> None:
    r = run(f'PYS=({MINOR} 3.98 3.99); pick_envs; echo "ran anyway"', CI="true")
    assert r.returncode == 2
    assert "ran anyway" not in r.stdout
    assert "no Python 3.98, 3.99 on PATH" in r.stderr and "CI=true" in r.stderr


def no_node_path(tmp_path: Path) -> str:
    """A PATH with this interpreter as python3.X and nothing else: no node, no npm."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / f"python{MINOR}").symlink_to(sys.executable)
    return str(bin_dir)


def test_outside_ci_missing_node_skips_the_js_env_and_says_so(tmp_path: Path) -> None:
    r = run(f'PYS=({MINOR}); PATH={no_node_path(tmp_path)} pick_envs; echo "ENVS=$ENVS"')
    assert r.returncode == 0, r.stderr
    assert f"ENVS=lint,type,py{MINOR.replace('.', '')}" in r.stdout
    assert "no Node >= 20.10 with npm on PATH" in r.stderr and "skipping js" in r.stderr


def test_under_ci_missing_node_fails(tmp_path: Path) -> None:
    r = run(f'PYS=({MINOR}); PATH={no_node_path(tmp_path)} pick_envs; echo "ran anyway"', CI="true")
    assert r.returncode == 2
    assert "ran anyway" not in r.stdout
    assert "no Node >= 20.10" in r.stderr and "CI=true" in r.stderr


def test_a_python_older_than_3_11_is_refused_with_advice(tmp_path: Path) -> None:
    shutil.copy(ROOT / "dev", tmp_path / "dev")  # a checkout with no .venv yet
    fake = tmp_path / "python3.9"
    fake.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo "Python 3.9.2"; exit 0; }\nexit 1\n')
    fake.chmod(0o755)
    r = run("ensure_venv", dev=tmp_path / "dev", PYTHON=str(fake))
    assert r.returncode == 2
    assert "Python 3.9.2 is too old" in r.stderr and "PYTHON=python3.12" in r.stderr
    assert not (tmp_path / ".venv").exists()


def test_no_python_at_all_is_explained(tmp_path: Path) -> None:
    shutil.copy(ROOT / "dev", tmp_path / "dev")
    r = run("ensure_venv", dev=tmp_path / "dev", PYTHON="python3-that-is-not-there")
    assert r.returncode == 2
    assert "no 'python3-that-is-not-there' on PATH" in r.stderr and "Python >= 3.11" in r.stderr


def test_the_missing_chromium_is_named_with_how_to_install_it(tmp_path: Path) -> None:
    r = run("check_chromium", CHROMIUM_PATH=str(tmp_path / "no-chromium"))
    assert r.returncode == 0
    assert "no Chromium: the page tests (tests/page) will be skipped" in r.stderr
    assert "apt-get install chromium" in r.stderr
    r = run("check_chromium", CHROMIUM_PATH=str(tmp_path / "no-chromium"), CI="true")
    assert "will fail" in r.stderr
