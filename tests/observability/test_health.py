"""/healthz and /readyz over HTTP: Redis, spool, workers (real Redis, a real Dramatiq worker), timeouts."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from focalpoint_upload.actors.broker import make_broker
from focalpoint_upload.observability.handlers import observability_routes
from focalpoint_upload.observability.presence import alive_workers, dramatiq_namespace, registry_key
from focalpoint_upload.observability.readiness import Check, accepting_check, redis_check, spool_check, workers_check
from focalpoint_upload.observability.worker_metrics import instrument_worker_broker
from tests.conftest import FakeClock
from tests.helpers.wait import wait_for
from tests.observability.servers import TornadoThread


def readyz(checks: dict[str, Check], timeout_s: float = 3.0) -> tuple[int, dict[str, Any]]:
    with TornadoThread(observability_routes(registry=None, checks=checks, readyz_timeout_s=timeout_s)) as app:
        status, headers, body = app.get("/readyz")
        assert headers["content-type"].startswith("application/json")
        assert app.get("/healthz")[0] == 200
        assert app.get("/metrics")[0] == 404  # no registry, no route
    return status, json.loads(body)


def _dummy(n: int) -> None:
    pass


def test_ready_with_a_live_worker_then_not(tmp_path: Path, redis_url: str, redis_client: redis.Redis,
                                           namespace: str) -> None:
    broker = make_broker(redis_url, namespace, heartbeat_timeout_s=30)
    instrument_worker_broker(broker, None)
    dramatiq.Actor(_dummy, broker=broker, actor_name="dummy", queue_name="q", priority=0, options={})
    dns = dramatiq_namespace(namespace)
    checks = {"redis": redis_check(redis_client.ping), "spool": spool_check(tmp_path),
              "workers": workers_check(redis_client, dns, 30, time.time)}
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        wait_for(lambda: redis_client.zscore(f"{dns}:__heartbeats__", broker.broker_id) is not None, 5,
                 "the worker's first heartbeat")
        status, body = readyz(checks)
        assert (status, body) == (200, {"status": "ready", "checks": {"redis": "ok", "spool": "ok", "workers": "ok"}})
    finally:
        worker.stop()
        broker.close()
    assert redis_client.zcard(registry_key(dns)) == 0  # the worker left the registry on its way out
    status, body = readyz(checks)
    assert status == 503 and body["status"] == "unready"
    assert [f["check"] for f in body["failing"]] == ["workers"]
    assert "no worker heartbeat" in body["failing"][0]["reason"]
    assert list(tmp_path.iterdir()) == []  # the spool probe cleaned up after itself


def test_a_front_door_that_only_enqueues_is_not_a_worker(redis_url: str, redis_client: redis.Redis,
                                                         namespace: str) -> None:
    broker = make_broker(redis_url, namespace)
    actor = dramatiq.Actor(_dummy, broker=broker, actor_name="dummy", queue_name="q", priority=0, options={})
    actor.send(1)  # Dramatiq writes a heartbeat for this enqueue
    dns = dramatiq_namespace(namespace)
    assert redis_client.zscore(f"{dns}:__heartbeats__", broker.broker_id) is not None
    assert alive_workers(redis_client, dns, 30, time.time) == 0
    broker.close()


def test_dead_workers_are_pruned(redis_client: redis.Redis, namespace: str, clock: FakeClock) -> None:
    dns = dramatiq_namespace(namespace)
    now_ms = clock() * 1000
    redis_client.zadd(registry_key(dns), {"booting": now_ms - 1000, "killed": now_ms - 120_000,
                                          "alive": now_ms - 120_000})
    redis_client.zadd(f"{dns}:__heartbeats__", {"alive": now_ms - 2000, "killed": now_ms - 60_000})
    assert alive_workers(redis_client, dns, 30, clock) == 2  # "alive" and "booting" (no heartbeat yet)
    assert sorted(redis_client.zrange(registry_key(dns), 0, -1)) == [b"alive", b"booting"]
    clock.advance(60)
    assert alive_workers(redis_client, dns, 30, clock) == 0
    assert redis_client.zcard(registry_key(dns)) == 0


def test_failing_checks_are_listed_with_reasons(tmp_path: Path) -> None:
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    hung = threading.Event()

    def slow() -> str | None:
        hung.wait(30)  # a check that hangs (Redis paused) until the test has its answer
        return None

    try:
        status, body = readyz({"redis": redis_check(down.ping), "spool": spool_check(tmp_path / "missing"),
                               "accepting": accepting_check(lambda: False), "slow": slow,
                               "fine": lambda: None}, timeout_s=0.5)
    finally:
        hung.set()
    assert status == 503
    reasons = {f["check"]: f["reason"] for f in body["failing"]}
    assert set(reasons) == {"redis", "spool", "accepting", "slow"}
    assert "ConnectionError" in reasons["redis"] and "127.0.0.1" not in reasons["redis"]  # no address shown
    assert "does not exist" in reasons["spool"] and str(tmp_path) not in reasons["spool"]
    assert reasons["slow"] == "timed out after 0.5 s"
    assert body["checks"]["fine"] == "ok"
