"""Metrics scraped over HTTP from a Tornado app with MetricsHandler; jobs by state from real Redis keys."""

from __future__ import annotations

from pathlib import Path

import redis
from prometheus_client.parser import text_string_to_metric_families

from focalpoint_upload.jobs import Event, Job, RedisJobStore, State
from focalpoint_upload.jobs.record import new_job_id
from focalpoint_upload.observability.handlers import MetricsHandler
from focalpoint_upload.observability.jobs_gauge import JobCounts, JobStateCollector, count_open_jobs
from focalpoint_upload.observability.metrics import Metrics
from focalpoint_upload.observability.storage_gauge import StorageBudgetCollector
from tests.conftest import FakeClock
from tests.observability.servers import TornadoThread


def scrape(metrics: Metrics, accept: str = "") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics over HTTP; {(sample name, sorted labels): value}."""
    with TornadoThread([(r"/metrics", MetricsHandler, {"registry": metrics.registry})]) as app:
        status, headers, body = app.get("/metrics", headers={"Accept": accept} if accept else None)
    assert status == 200
    assert headers["content-type"].startswith("text/plain") or "openmetrics" in headers["content-type"]
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_upload_requests_and_timings() -> None:
    m = Metrics()
    m.access_line({"status": 202, "outcome": "accepted", "bytesReceived": 5_000_000, "fileBytes": 4_999_000,
                   "durationMs": 850.0, "msFromLastByte": 12.5})
    m.access_line({"status": 200, "outcome": "replayed", "bytesReceived": 5_000_000, "durationMs": 40.0,
                   "msFromLastByte": 3.0})
    m.access_line({"status": 499, "outcome": "aborted", "bytesReceived": 100, "durationMs": 60000.0,
                   "msFromLastByte": None})
    m.upload_request(status=429, outcome="bogus-outcome", bytes_received=0, duration_s=0.01, after_last_byte_s=0.0)
    m.ratelimit_rejected("ingest_attempt")
    m.ratelimit_rejected("status_ip", degraded=True)
    m.stuck_job("UPLOADING")
    m.gemini_call("chunk", "ok", 0.2)
    m.gemini_call("teleport", "weird")
    s = scrape(m)
    assert s[("focalpoint_upload_requests_total", (("outcome", "accepted"), ("status", "202")))] == 1
    assert s[("focalpoint_upload_requests_total", (("outcome", "replayed"), ("status", "200")))] == 1
    assert s[("focalpoint_upload_requests_total", (("outcome", "aborted"), ("status", "499")))] == 1
    assert s[("focalpoint_upload_requests_total", (("outcome", "other"), ("status", "429")))] == 1
    assert s[("focalpoint_upload_received_bytes_total", ())] == 10_000_100
    assert s[("focalpoint_upload_file_bytes_count", ())] == 1
    after = "focalpoint_upload_response_after_last_byte_seconds"
    assert s[(f"{after}_count", (("outcome", "accepted"),))] == 1
    assert s[(f"{after}_bucket", (("le", "0.01"), ("outcome", "accepted")))] == 0
    assert s[(f"{after}_bucket", (("le", "0.025"), ("outcome", "accepted")))] == 1
    assert (f"{after}_count", (("outcome", "aborted"),)) not in s  # no last byte, no observation
    assert s[("focalpoint_upload_request_duration_seconds_count", (("outcome", "aborted"),))] == 1
    assert s[("focalpoint_ratelimit_rejections_total", (("kind", "limited"), ("policy", "ingest_attempt")))] == 1
    assert s[("focalpoint_ratelimit_rejections_total", (("kind", "degraded"), ("policy", "status_ip")))] == 1
    assert s[("focalpoint_stuck_jobs_total", (("stage", "uploading"),))] == 1
    assert s[("focalpoint_gemini_calls_total", (("op", "chunk"), ("outcome", "ok")))] == 1
    assert s[("focalpoint_gemini_calls_total", (("op", "other"), ("outcome", "other")))] == 1


def test_openmetrics_when_asked() -> None:
    m = Metrics()
    m.stuck_job("SPOOLING")
    with TornadoThread([(r"/metrics", MetricsHandler, {"registry": m.registry})]) as app:
        status, headers, body = app.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert status == 200 and "openmetrics" in headers["content-type"] and body.endswith(b"# EOF\n")


def _job(store: RedisJobStore, clock: FakeClock, *events: Event) -> str:
    job_id = new_job_id()
    store.claim(Job(job_id=job_id, attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
                    updated_at=clock()))
    for event in events:
        store.transition(job_id, event)
    return job_id


def test_jobs_by_state_from_redis(redis_client: redis.Redis, namespace: str, clock: FakeClock) -> None:
    store = RedisJobStore(redis_client, namespace, clock, 3600)
    _job(store, clock)  # SPOOLING, updated at t0: the oldest
    clock.advance(10)
    for _ in range(3):
        _job(store, clock, Event.SPOOL_COMPLETE)
    _job(store, clock, Event.SPOOL_COMPLETE, Event.UPLOAD_STARTED)
    _job(store, clock, Event.FAIL)  # final: not counted
    redis_client.zadd(f"{namespace}:open", {"ghost": clock()})  # an id whose hash expired
    clock.advance(90)

    counts = count_open_jobs(redis_client, namespace)
    assert counts.by_state["SPOOLING"] == 1 and counts.by_state["SPOOLED"] == 3
    assert counts.by_state["UPLOADING"] == 1 and counts.by_state["PROCESSING"] == 0
    assert counts.by_state["missing"] == 1 and "FAILED" not in counts.by_state
    assert counts.open_total == 6 and not counts.partial

    m = Metrics()
    m.watch(JobStateCollector(lambda: count_open_jobs(redis_client, namespace), clock))
    s = scrape(m)
    assert s[("focalpoint_jobs", (("state", "SPOOLED"),))] == 3
    assert s[("focalpoint_jobs", (("state", "PROCESSING"),))] == 0
    assert s[("focalpoint_jobs_open", ())] == 6
    assert s[("focalpoint_jobs_oldest_update_age_seconds", ())] == 100
    assert s[("focalpoint_jobs_count_error", ())] == 0

    limited = count_open_jobs(redis_client, namespace, limit=2)
    assert limited.counted == 2 and limited.partial and limited.by_state["SPOOLING"] == 1


def test_unreadable_store_does_not_fail_the_scrape() -> None:
    def broken() -> JobCounts:
        raise redis.ConnectionError("Redis is down")

    m = Metrics()
    m.watch(JobStateCollector(broken, FakeClock()))
    m.stuck_job("SPOOLED")
    s = scrape(m)
    assert s[("focalpoint_jobs_count_error", ())] == 1
    assert ("focalpoint_jobs_open", ()) not in s
    assert s[("focalpoint_stuck_jobs_total", (("stage", "spooled"),))] == 1


def test_registration_does_not_read_redis() -> None:
    calls: list[int] = []

    def count() -> JobCounts:
        calls.append(1)
        return JobCounts()

    Metrics().watch(JobStateCollector(count, FakeClock()))
    assert calls == []


def test_the_gemini_storage_budget_and_its_waits(tmp_path: Path) -> None:
    """On the leg's twins (no Redis): the budget's bytes at scrape time, and one count per job that waited."""
    from tests.actors.legkit import LegKit

    kit = LegKit(tmp_path, budget=15)
    m = Metrics()
    m.watch(StorageBudgetCollector(kit.budget))
    kit.leg.on_storage_wait = m.storage_wait
    first = kit.spooled(size=10)
    kit.run()
    kit.spooled(size=10)
    for _ in range(3):  # it waits (one count), and looks again twice (no more counts)
        kit.step()
    s = scrape(m)
    assert s[("focalpoint_gemini_storage_budget_bytes", ())] == 15
    assert s[("focalpoint_gemini_storage_used_bytes", ())] == 10
    assert s[("focalpoint_gemini_storage_error", ())] == 0
    assert s[("focalpoint_gemini_storage_waits_total", ())] == 1
    kit.store.transition(first.job_id, Event.DELETE, deleted_at=kit.clock())
    kit.leg.cancel(first.job_id)
    kit.run()
    assert scrape(m)[("focalpoint_gemini_storage_used_bytes", ())] == 10  # the second job's file now


def test_an_unreadable_storage_budget_is_reported_not_fatal() -> None:
    class Down:
        budget = 100

        def used(self) -> int:
            raise redis.ConnectionError("down")

    m = Metrics()
    m.watch(StorageBudgetCollector(Down()))  # type: ignore[arg-type]
    s = scrape(m)
    assert s[("focalpoint_gemini_storage_error", ())] == 1
    assert ("focalpoint_gemini_storage_used_bytes", ()) not in s
