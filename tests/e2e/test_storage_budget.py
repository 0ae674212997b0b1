"""The Gemini storage budget end to end: the service with real Dramatiq workers and the emulator, whose own
project quota is set to the service's budget, so a job that started without room would get Gemini's 429.

Time is moved with the clock handed to the service (the sweeper is then called directly); a waiting job's
re-checks are shortened to a tenth of a second, and tests wait for them to happen, not for time to pass.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from focalpoint_upload.gemini.emulator import EmulatorConfig, EmulatorServer
from tests.e2e.test_pipeline import wait_state
from tests.helpers.http import attempt_id, request, upload_raw
from tests.helpers.service import RunningService, service_settings
from tests.helpers.wait import wait_for
from tests.helpers.webhook_receiver import Received, WebhookReceiver

MiB = 1024 * 1024
SIZE = 3 * MiB + 11
BUDGET = 5 * MiB  # room for one file of SIZE, not two
HOUR = 3600.0
SECRET = "whsec_AUCG6/i/9lgZ8BRzMS/rP4WX3pLin9sUpd0T1GS+bas="


class ShiftedClock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def quota_emulator() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(api_key="emu-key", granularity=256 * 1024, project_bytes=BUDGET)
    with EmulatorServer(config=config) as srv:
        yield srv


@pytest.fixture
def make_budgeted(tmp_path: Path, redis_url: str, namespace: str,
                  quota_emulator: EmulatorServer) -> Iterator[Any]:
    running: list[RunningService] = []

    def make(**overrides: Any) -> tuple[RunningService, ShiftedClock]:
        clock = ShiftedClock()
        settings = service_settings(tmp_path, redis_url, namespace, gemini_base_url=quota_emulator.base_url,
                                    gemini_api_key=quota_emulator.api_key, gemini_chunk_bytes=MiB,
                                    gemini_storage_budget_bytes=BUDGET, **overrides)
        svc = RunningService(settings, with_workers=True, clock=clock)
        running.append(svc)
        svc.service.workers.leg.storage_recheck_s = (0.05, 0.1)
        return svc, clock

    yield make
    for svc in running:
        svc.stop()


def status(svc: RunningService, job_id: str) -> dict[str, Any]:
    return request(svc.port, "GET", f"/api/upload/status?jobId={job_id}").json


def upload(svc: RunningService, seed: int) -> str:
    r = upload_raw(svc.port, SIZE, attempt_id(), seed=seed)
    assert r.status == 202, r.json
    return str(r.json["jobId"])


def active_then_waiting(svc: RunningService) -> tuple[str, str]:
    """One job ACTIVE (holding the budget), a second one waiting for storage through a few re-checks."""
    first = upload(svc, 1)
    assert wait_state(svc.port, first, {"ACTIVE", "FAILED"})["state"] == "ACTIVE"
    second = upload(svc, 2)
    doc = wait_for(lambda: (d := status(svc, second))["waiting"] and d, what="the second job to wait")
    assert doc["state"] == "SPOOLED" and doc["waiting"] == "gemini_storage" and doc["error"] is None
    store = svc.service.workers.leg.store
    gen = store.get(second).msg_gen
    wait_for(lambda: store.get(second).msg_gen >= gen + 3, what="re-checks")  # it looked again, and waits on
    assert status(svc, second)["state"] == "SPOOLED"
    return first, second


def quota_refusals(emulator: EmulatorServer) -> int:
    return sum(1 for e in emulator.emulator.log() if e["status"] == 429)


def test_a_job_waits_for_storage_and_goes_when_an_active_file_is_deleted(
        make_budgeted: Any, quota_emulator: EmulatorServer) -> None:
    svc, _ = make_budgeted()
    budget = svc.service.workers.leg.storage
    first, second = active_then_waiting(svc)
    assert budget.used() == SIZE and len(quota_emulator.emulator.files) == 1
    r = request(svc.port, "DELETE", f"/api/upload/{first}")
    assert r.status == 200
    assert r.json["state"] == "DELETED" and r.json["deletedAt"] and r.json["fileUri"] is None
    assert r.json["pollAfterMs"] is None
    doc = wait_state(svc.port, second, {"ACTIVE", "FAILED"})
    assert doc["state"] == "ACTIVE" and doc["waiting"] is None
    assert [f.file_id for f in quota_emulator.emulator.files.values()] == [doc["fileUri"].rsplit("/", 1)[1]]
    assert budget.held() == {second: SIZE}
    assert quota_refusals(quota_emulator) == 0  # the service never asked Gemini for room it did not have
    assert status(svc, first)["state"] == "DELETED"
    again = request(svc.port, "DELETE", f"/api/upload/{first}")
    assert again.status == 409 and again.json["error"]["code"] == "job_final"


def test_expiry_frees_the_space_and_posts_upload_expired(make_budgeted: Any,
                                                         quota_emulator: EmulatorServer) -> None:
    with WebhookReceiver(SECRET) as receiver:
        svc, clock = make_budgeted(webhook_url=receiver.url, webhook_secret=SECRET, webhook_retry_base_s=0.1,
                                   gemini_storage_wait_s=100 * HOUR)
        first, second = active_then_waiting(svc)
        clock.offset += 49 * HOUR  # past Gemini's expirationTime of the first file
        report = svc.service.workers.sweeps.sweeper.sweep()
        assert report.expired == 1 and report.storage_released == 1 and report.deadline_failed == 0
        expired = status(svc, first)
        assert expired["state"] == "EXPIRED" and expired["expiredAt"] and expired["fileUri"] is None
        assert wait_state(svc.port, second, {"ACTIVE", "FAILED"})["state"] == "ACTIVE"
        assert len(quota_emulator.emulator.files) == 1 and quota_refusals(quota_emulator) == 0

        def verified() -> list[tuple[dict[str, str], Any]]:
            with receiver.cond:
                return [(r.headers, p) for r in receiver.received if (p := signed(r)) is not None]

        wanted = {("upload.active", first), ("upload.expired", first), ("upload.active", second)}
        wait_for(lambda: wanted <= {(p["type"], p["data"]["jobId"]) for _, p in verified()},
                 what="the three events, verified")
        expired_events = [(h, p) for h, p in verified() if p["type"] == "upload.expired"]
        assert len({h["webhook-id"] for h, _ in expired_events}) == 1  # one event (maybe sent more than once)
        event = expired_events[0][1]
        assert event["data"]["state"] == "EXPIRED" and event["data"]["expiredAt"] == expired["expiredAt"]


def signed(r: Received) -> Any:
    """The event if its signature is right. Checked with the library's own ``sign`` at the request's timestamp:
    the service's clock runs 49 h ahead here, so ``verify`` (which also wants a fresh timestamp) refuses it."""
    at = datetime.fromtimestamp(int(r.headers["webhook-timestamp"]), UTC)
    expected = Webhook(SECRET).sign(r.headers["webhook-id"], at, r.body.decode())
    return json.loads(r.body) if expected in r.headers["webhook-signature"].split(" ") else None


def test_a_waiting_job_is_not_failed_by_the_job_deadline_only_by_its_own(make_budgeted: Any) -> None:
    svc, clock = make_budgeted(job_deadline_s=HOUR, gemini_storage_wait_s=2 * HOUR)
    _, second = active_then_waiting(svc)
    clock.offset += 1.5 * HOUR  # past the job deadline, within the wait's
    report = svc.service.workers.sweeps.sweeper.sweep()
    assert report.deadline_failed == 0
    store = svc.service.workers.leg.store
    gen = store.get(second).msg_gen
    wait_for(lambda: store.get(second).msg_gen >= gen + 2, what="re-checks")
    assert status(svc, second)["state"] == "SPOOLED"
    clock.offset += HOUR  # now past the wait's deadline too: the next re-check ends it
    doc = wait_state(svc.port, second, {"FAILED"})
    assert doc["error"]["code"] == "gemini_storage_timeout" and doc["error"]["retryable"] is True
    assert doc["waiting"] is None


def test_gemini_file_ttl_expires_a_file_early_and_retry_sends_it_again_from_its_kept_spool(
        make_budgeted: Any, quota_emulator: EmulatorServer) -> None:
    svc, clock = make_budgeted(gemini_file_ttl_s=60.0, spool_retention_active_s=100 * HOUR)
    job_id = upload(svc, 3)
    before = wait_state(svc.port, job_id, {"ACTIVE", "FAILED"})
    assert before["state"] == "ACTIVE"
    sweeper = svc.service.workers.sweeps.sweeper
    assert sweeper.sweep().expired == 0  # not yet
    clock.offset += 61
    assert sweeper.sweep().expired == 1
    assert status(svc, job_id)["state"] == "EXPIRED"
    assert quota_emulator.emulator.files == {}  # deleted by us, not by Gemini's 48 h
    assert svc.service.workers.leg.storage.used() == 0
    r = request(svc.port, "POST", f"/api/upload/{job_id}/retry")
    assert r.status == 202 and r.json["state"] == "SPOOLED"
    after = wait_state(svc.port, job_id, {"ACTIVE", "FAILED"})
    assert after["state"] == "ACTIVE" and after["fileUri"] != before["fileUri"] and after["sha256Verified"]
    assert len(quota_emulator.emulator.files) == 1


def test_an_expired_job_whose_spool_is_gone_cannot_be_retried(make_budgeted: Any) -> None:
    svc, clock = make_budgeted(gemini_file_ttl_s=60.0)  # FOCALPOINT_SPOOL_RETENTION_ACTIVE=0s: spool gone at ACTIVE
    job_id = upload(svc, 4)
    assert wait_state(svc.port, job_id, {"ACTIVE", "FAILED"})["state"] == "ACTIVE"
    clock.offset += 61
    assert svc.service.workers.sweeps.sweeper.sweep().expired == 1
    r = request(svc.port, "POST", f"/api/upload/{job_id}/retry")
    assert r.status == 410 and r.json["error"]["code"] == "spool_gone"
