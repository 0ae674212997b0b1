"""The console script's auth: `token` prints a token the service accepts; `serve` refuses to expose an
anonymous service to the network unless told to, and warns when auth is off."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from focalpoint_upload.frontdoor.auth import Keys, verify
from tests.helpers.http import request
from tests.helpers.procs import serve

CLI = [sys.executable, "-m", "focalpoint_upload.cli"]
SECRET = "cli-test-secret-" + "k" * 32


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FOCALPOINT_", "GEMINI_", "REDIS_URL"))}
    return subprocess.run([*CLI, *args], env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60)


def test_token_prints_a_token_for_the_user() -> None:
    r = run("token", "--user", "alice", "--ttl", "2h", "--max-bytes", "1MiB", env={"FOCALPOINT_AUTH_SECRET": SECRET})
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert "\n" not in token
    now = time.time()
    principal = verify(token, Keys(secret=SECRET), now)
    assert principal.subject == "alice" and principal.max_bytes == 1024 * 1024
    assert verify(token, Keys(secret=SECRET), now + 7000).subject == "alice"
    assert run("token", "--user", "alice", env={"FOCALPOINT_AUTH_SECRET": SECRET}).returncode == 0  # --ttl 1h


def test_token_without_a_secret_says_why() -> None:
    r = run("token", "--user", "alice")
    assert r.returncode == 2 and r.stdout == ""
    assert "FOCALPOINT_AUTH_SECRET is not set" in r.stderr
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    r = run("token", "--user", "alice", env={"FOCALPOINT_AUTH_PUBLIC_KEY": pem})
    assert r.returncode == 2 and "only FOCALPOINT_AUTH_PUBLIC_KEY is set" in r.stderr
    r = run("token", "--user", "alice", "--ttl", "soon", env={"FOCALPOINT_AUTH_SECRET": SECRET})
    assert r.returncode == 2 and "--ttl" in r.stderr


def test_serve_refuses_a_network_address_without_auth(tmp_path: Path) -> None:
    r = run("serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path), env={"GEMINI_API_KEY": "k"})
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "FOCALPOINT_AUTH=none" in r.stderr and "0.0.0.0" in r.stderr


def front_door_env(tmp_path: Path, redis_url: str, namespace: str, **env: str) -> dict[str, str]:
    # The test's Redis, not the embedded one: only the front door runs, and no private Redis is left behind.
    return {"FOCALPOINT_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": redis_url,
            "FOCALPOINT_REDIS_NAMESPACE": namespace, "GEMINI_API_KEY": "k", **env}


def test_serve_with_auth_none_on_a_network_address_warns_and_serves(tmp_path: Path, redis_url: str,
                                                                    namespace: str) -> None:
    proc, port = serve(front_door_env(tmp_path, redis_url, namespace, FOCALPOINT_HOST="0.0.0.0",
                                      FOCALPOINT_AUTH="none"), tmp_path / "serve.log")
    try:
        assert "WARNING: auth is off" in proc.text()
        assert request(port, "GET", "/api/upload/status?attemptId=abcdefgh1234").status == 404  # no 401: auth off
    finally:
        assert proc.stop() == 0


def test_serve_with_a_secret_requires_tokens(tmp_path: Path, redis_url: str, namespace: str) -> None:
    proc, port = serve(front_door_env(tmp_path, redis_url, namespace, FOCALPOINT_AUTH_SECRET=SECRET),
                       tmp_path / "serve.log")
    try:
        assert "auth is off" not in proc.text()
        assert request(port, "GET", "/api/upload/status?attemptId=abcdefgh1234").status == 401
    finally:
        assert proc.stop() == 0
