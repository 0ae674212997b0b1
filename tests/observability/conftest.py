from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from focalpoint_upload.config import Settings, load_settings
from focalpoint_upload.observability.sentry import shutdown_sentry
from tests.observability.receiver import SentryReceiver

API_KEY = "AIzaSyTestKey0123456789abcdefghijklmnop"  # AIza + 35: shaped like a real Google key
UPLOAD_ID = "AbCdSecretUploadId0987654321"
SESSION_URL = (f"https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id={UPLOAD_ID}"
               "&upload_protocol=resumable")
SECRETS = (API_KEY.encode(), UPLOAD_ID.encode())


def make_settings(tmp_path: Path, redis_url: str | None, namespace: str, **overrides: Any) -> Settings:
    """Settings for a test (like tests.helpers.service's, kept here so these tests stand on their own)."""
    env = {"FOCALPOINT_DATA_DIR": str(tmp_path / "data"), "FOCALPOINT_PORT": "0",
           "FOCALPOINT_REDIS_NAMESPACE": namespace, "FOCALPOINT_MIN_FREE_SPACE": "1MiB",
           "GEMINI_API_KEY": "test-key", "FOCALPOINT_LIMIT_STATUS_PER_IP": "100000/minute"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return load_settings(env, **overrides)


@pytest.fixture
def receiver() -> Iterator[SentryReceiver]:
    rec = SentryReceiver().start()
    yield rec
    rec.stop()


@pytest.fixture
def sentry_settings(tmp_path: Path, receiver: SentryReceiver) -> Iterator[Settings]:
    """Settings with SENTRY_DSN at the local receiver and a Google-shaped API key; Sentry is shut down after."""
    settings = make_settings(tmp_path, None, "fpobs", sentry_dsn=receiver.dsn, sentry_environment="test",
                             gemini_api_key=API_KEY)
    yield settings
    shutdown_sentry()


def assert_no_secret(raw: bytes) -> None:
    for secret in SECRETS:
        assert secret not in raw, f"{secret!r} reached Sentry"
