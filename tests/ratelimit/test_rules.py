"""The upload service's rules against the real Redis, built from Settings as the service builds them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from focalpoint_upload.config import load_settings
from focalpoint_upload.ratelimit import ConfigurationError, UploadLimits
from tests.conftest import FakeClock


@pytest.fixture
def limits(redis_url: str, namespace: str, clock: FakeClock, tmp_path: Path) -> Iterator[UploadLimits]:
    settings = load_settings({}, data_dir=tmp_path, redis_url=redis_url, redis_namespace=namespace,
                             limit_new_uploads_per_ip="3/hour", limit_status_per_ip="4/minute",
                             trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    rules = UploadLimits.from_settings(settings, clock=clock)
    yield rules
    rules.close()


def test_ingest_is_two_per_minute_per_attempt(limits: UploadLimits) -> None:
    assert [limits.check_ingest("att-1").allowed for _ in range(3)] == [True, True, False]
    assert limits.check_ingest("att-2").allowed  # another attempt has its own count
    denial = limits.check_ingest("att-1")
    assert denial.policy == "ingest" and denial.limit == 2 and denial.retry_after > 0


def test_peek_ingest_never_counts(limits: UploadLimits) -> None:
    for _ in range(10):
        assert limits.peek_ingest("att-replayed").remaining == 2  # replays: any number of peeks
    assert limits.check_ingest("att-replayed").remaining == 1
    assert limits.peek_ingest("att-replayed").remaining == 1


def test_new_uploads_per_ip_and_ipv6_per_64(limits: UploadLimits) -> None:
    assert [limits.check_new_upload("2001:db8:1:2::a").allowed for _ in range(2)] == [True, True]
    assert limits.check_new_upload("2001:db8:1:2::b").allowed  # same /64: third of three
    assert not limits.check_new_upload("2001:db8:1:2:ffff::1").allowed
    assert limits.check_new_upload("2001:db8:1:3::a").allowed  # another /64
    assert limits.peek_new_upload("198.51.100.1").remaining == 3


def test_status_per_ip(limits: UploadLimits) -> None:
    results = [limits.check_status("198.51.100.1").allowed for _ in range(5)]
    assert results == [True, True, True, True, False]
    assert limits.check_status("198.51.100.2").allowed
    assert limits.peek_status("198.51.100.1").retry_after > 0


def test_client_ip_uses_trusted_proxies(limits: UploadLimits) -> None:
    headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}
    assert limits.client_ip("10.0.0.5", headers) == "198.51.100.1"
    assert limits.client_ip("203.0.113.5", headers) == "203.0.113.5"


def test_from_settings_needs_a_url(tmp_path: Path) -> None:
    settings = load_settings({}, data_dir=tmp_path)  # embedded default: the caller passes the server's URL
    with pytest.raises(ConfigurationError):
        UploadLimits.from_settings(settings)
    rules = UploadLimits.from_settings(settings, "unix:///nonexistent.sock")
    assert rules.limiter is not None
    rules.close()


def test_owners_have_their_own_counters(limits: UploadLimits) -> None:
    # New uploads: an owner's quota, whatever the address; the anonymous owner (None) is keyed by address.
    assert [limits.check_new_upload(f"198.51.100.{i}", "u:alice").allowed for i in range(4)] == [True] * 3 + [False]
    assert limits.check_new_upload("198.51.100.1", "u:bob").allowed
    assert limits.peek_new_upload("198.51.100.1").remaining == 3  # the address's own counter was never touched
    # Status: per owner and address, so a user behind a shared address spends only their own polls.
    assert [limits.check_status("198.51.100.9", "u:alice").allowed for _ in range(5)] == [True] * 4 + [False]
    assert limits.check_status("198.51.100.9", "u:bob").allowed
    assert limits.check_status("198.51.100.9").allowed
    # Ingest: the same attemptId of two owners is two attempts.
    assert [limits.check_ingest("att-1", "u:alice").allowed for _ in range(3)] == [True, True, False]
    assert limits.check_ingest("att-1", "u:bob").allowed and limits.check_ingest("att-1").allowed
