from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config import Settings
from observability.sentry import shutdown_sentry
from tests.helpers.service import service_settings as make_settings
from tests.observability.receiver import SentryReceiver

API_KEY = "AIzaSyTestKey0123456789abcdefghijklmnop"  # AIza + 35: shaped like a real Google key
UPLOAD_ID = "AbCdSecretUploadId0987654321"
SESSION_URL = (f"https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id={UPLOAD_ID}"
               "&upload_protocol=resumable")
SECRETS = (API_KEY.encode(), UPLOAD_ID.encode())


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
