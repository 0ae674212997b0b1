"""``focalpoint-upload worker``: Dramatiq workers against the shared Redis, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import time

from focalpoint_upload.config import Settings
from focalpoint_upload.lifecycle import StopSignals

log = logging.getLogger("focalpoint.worker")


def run_worker(settings: Settings, signals: StopSignals) -> int:
    """Run until ``signals`` asks to stop (installed before this is called, so a SIGTERM during start-up
    stops what has started and exits 0)."""
    from focalpoint_upload.actors.runtime import start_workers
    from focalpoint_upload.observability.metrics import Metrics
    from focalpoint_upload.observability.worker_metrics import serve_metrics
    from focalpoint_upload.service import connect

    assert settings.redis_url is not None
    parts = connect(settings, settings.redis_url, time.time)
    client = parts.client
    metrics = Metrics()
    workers = start_workers(settings, parts.broker, parts.store, time.time, client, metrics)
    stop_metrics = None
    try:
        if settings.worker_metrics_port is not None:
            port, stop_metrics = serve_metrics(metrics, settings.host, settings.worker_metrics_port)
            log.info("worker_metrics", extra={"fields": {"host": settings.host, "port": port}})
        if not signals.requested:
            log.info("worker_started", extra={"fields": {"threads": settings.worker_threads}})
        signals.wait()
        log.info("worker_stopping")
    finally:
        workers.stop()
        if stop_metrics is not None:
            stop_metrics()
        client.close()
    return 0
