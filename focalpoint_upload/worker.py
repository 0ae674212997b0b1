"""``focalpoint-upload worker``: Dramatiq workers against the shared Redis, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
import time

from config import Settings

log = logging.getLogger("focalpoint.worker")


def run_worker(settings: Settings) -> int:
    from actors.broker import make_broker
    from actors.runtime import start_workers
    from focalpoint_upload.service import redis_client
    from jobs import RedisJobStore
    from observability.metrics import Metrics
    from observability.worker_metrics import serve_metrics

    assert settings.redis_url is not None
    client = redis_client(settings.redis_url)
    store = RedisJobStore(client, settings.redis_namespace, time.time, settings.job_ttl_s)
    broker = make_broker(settings.redis_url, settings.redis_namespace, settings.worker_heartbeat_timeout_s)
    metrics = Metrics()
    workers = start_workers(settings, broker, store, time.time, client, metrics)
    stop_metrics = None
    if settings.worker_metrics_port is not None:
        port, stop_metrics = serve_metrics(metrics, settings.host, settings.worker_metrics_port)
        log.info("worker_metrics", extra={"fields": {"host": settings.host, "port": port}})
    log.info("worker_started", extra={"fields": {"threads": settings.worker_threads}})
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("worker_stopping")
    workers.stop()
    if stop_metrics is not None:
        stop_metrics()
    client.close()
    return 0
