"""Redis unreachable: fail open or closed per policy, a warning with the policy and error, a bounded cost."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from focalpoint_upload.config import load_settings
from focalpoint_upload.ratelimit import (
    Policy,
    RateLimiter,
    RateLimitError,
    StorageUnavailable,
    UploadLimits,
    render_headers,
)
from tests.conftest import FakeClock

DEAD = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "focalpoint.ratelimit" and r.levelno == logging.WARNING]


def test_fail_open_allows_degraded_and_logs(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(DEAD, "fptest", clock, timeout=0.2)
    started = time.monotonic()
    decision = limiter.hit(Policy("status", "60/minute", fail_open=True), "1.2.3.4")
    assert time.monotonic() - started < 2.0
    assert decision.allowed and decision.degraded and decision.retry_after == 0
    assert render_headers(decision) == {"RateLimit-Policy": '"status";q=60;w=60'}  # no made-up RateLimit
    [record] = warnings_of(caplog)
    assert record.getMessage() == "ratelimit_degraded"
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["policy"] == "status" and fields["fail_open"] is True
    assert "ConnectionError" in fields["error"]


def test_fail_closed_denies_with_retry_after(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(DEAD, "fptest", clock, timeout=0.2, degraded_retry_after=7)
    decision = limiter.hit(Policy("uploads", "30/hour", fail_open=False), "1.2.3.4")
    assert not decision.allowed and decision.degraded
    assert decision.retry_after == 7 and decision.remaining == 0 and decision.reset == clock.now + 7
    assert render_headers(decision)["Retry-After"] == "7"
    assert "RateLimit" not in render_headers(decision)
    assert warnings_of(caplog)[0].fields["policy"] == "uploads"  # type: ignore[attr-defined]


def test_peek_degrades_the_same_way(clock: FakeClock) -> None:
    limiter = RateLimiter(DEAD, "fptest", clock, timeout=0.2)
    assert limiter.peek(Policy("ingest", "2/minute", fail_open=False), "a").degraded
    assert not limiter.peek(Policy("ingest", "2/minute", fail_open=False), "a").allowed


def test_cooldown_skips_the_storage_then_tries_again(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(DEAD, "fptest", clock, timeout=0.2, cooldown=5.0)
    policy = Policy("status", "60/minute", fail_open=True)
    limiter.hit(policy, "k")
    limiter.hit(policy, "k")
    clock.advance(4.9)
    assert limiter.hit(policy, "k").degraded
    assert len(warnings_of(caplog)) == 1  # skipped checks are not retried, nor logged as warnings
    clock.advance(0.1)
    assert limiter.hit(policy, "k").degraded
    assert len(warnings_of(caplog)) == 2


def test_reset_raises_our_exception(clock: FakeClock) -> None:
    limiter = RateLimiter(DEAD, "fptest", clock, timeout=0.2)
    with pytest.raises(StorageUnavailable) as info:
        limiter.reset(Policy("status", "1/minute"), "k")
    assert isinstance(info.value, RateLimitError)


@pytest.mark.parametrize("uploads_open", [False, True])
def test_upload_rules_follow_settings(tmp_path: Path, clock: FakeClock, uploads_open: bool) -> None:
    settings = load_settings({}, data_dir=tmp_path, redis_url=DEAD, ratelimit_fail_open_uploads=uploads_open)
    limits = UploadLimits.from_settings(settings, clock=clock, timeout=0.2)
    assert settings.ratelimit_fail_open_status
    status = limits.check_status("1.2.3.4")
    assert status.allowed and status.degraded
    for decision in (limits.check_new_upload("1.2.3.4"), limits.check_ingest("attempt-1")):
        assert decision.degraded and decision.allowed is uploads_open
        assert decision.allowed or decision.retry_after > 0
