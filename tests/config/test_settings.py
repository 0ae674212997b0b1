from __future__ import annotations

from pathlib import Path

import pytest

from focalpoint_upload.config import ConfigError, load_settings
from focalpoint_upload.config.settings import VARIABLES


def test_defaults() -> None:
    s = load_settings({})
    assert s.max_upload_bytes == 2 * 1024**3
    assert s.allowed_media_types == ("video/*", "audio/*", "image/*", "application/pdf", "text/plain")
    assert s.spool_dir == Path.cwd() / "var" / "spool"  # absolute: job records store spool paths
    assert s.embedded and s.redis_url is None
    assert s.limit_status_per_ip == "60/minute"


def test_values_are_parsed() -> None:
    s = load_settings({"FOCALPOINT_MAX_UPLOAD_SIZE": "500MB", "FOCALPOINT_INGEST_IDLE_TIMEOUT": "250ms",
                       "REDIS_URL": "redis://10.0.0.5:6380/2", "FOCALPOINT_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
                       "FOCALPOINT_DATA_DIR": "/srv/fp", "GEMINI_BASE_URL": "http://127.0.0.1:8090/"})
    assert s.max_upload_bytes == 500_000_000
    assert s.ingest_idle_timeout_s == 0.25
    assert not s.embedded
    assert len(s.trusted_proxies) == 2
    assert s.spool_dir == Path("/srv/fp/spool")
    assert s.gemini_base_url == "http://127.0.0.1:8090"


def test_overrides_win_and_none_means_not_given() -> None:
    s = load_settings({"FOCALPOINT_PORT": "9000"}, port=None, host="0.0.0.0")
    assert s.port == 9000 and s.host == "0.0.0.0"


def test_settings_are_frozen() -> None:
    s = load_settings({})
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("env", "variable"), [
    ({"FOCALPOINT_MAX_UPLOAD_SIZE": "lots"}, "FOCALPOINT_MAX_UPLOAD_SIZE"),
    ({"FOCALPOINT_PORT": "70000"}, "FOCALPOINT_PORT"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
    ({"FOCALPOINT_ALLOWED_MEDIA_TYPES": "video"}, "FOCALPOINT_ALLOWED_MEDIA_TYPES"),
    ({"FOCALPOINT_LIMIT_STATUS_PER_IP": "sixty per minute"}, "FOCALPOINT_LIMIT_STATUS_PER_IP"),
    ({"FOCALPOINT_TRUSTED_PROXIES": "not-an-ip"}, "FOCALPOINT_TRUSTED_PROXIES"),
    ({"FOCALPOINT_INGEST_IDLE_TIMEOUT": "0s"}, "FOCALPOINT_INGEST_IDLE_TIMEOUT"),
    ({"FOCALPOINT_RATELIMIT_FAIL_OPEN_STATUS": "maybe"}, "FOCALPOINT_RATELIMIT_FAIL_OPEN_STATUS"),
    ({"GEMINI_CHUNK_SIZE": "1KiB"}, "GEMINI_CHUNK_SIZE"),
])
def test_bad_values_name_the_variable_and_give_an_example(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert info.value.variable == variable
    assert str(info.value).startswith(variable)
    assert "for example" in str(info.value)


def test_every_variable_is_documented_and_maps_to_a_field() -> None:
    fields = set(load_settings({}).__dataclass_fields__)
    for var in VARIABLES:
        assert var.doc and var.field in fields
