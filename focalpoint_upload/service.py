"""Assembly: build the parts of a process from the settings, start them in order, stop them in reverse.

``Service`` is what ``focalpoint-upload serve`` runs: the front door, and on the embedded default also the
private Redis and the Dramatiq workers, in one process. A multi-host deployment runs the same parts split
over processes (``serve`` with REDIS_URL, and ``worker``), all on one Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
import tornado.httpserver
import tornado.netutil
from dramatiq.brokers.redis import RedisBroker

from config import Settings
from focalpoint_upload.embedded import EmbeddedRedis
from jobs import RedisJobStore
from observability.handlers import observability_routes
from observability.jobs_gauge import JobStateCollector, count_open_jobs
from observability.metrics import Metrics
from observability.presence import dramatiq_namespace
from observability.readiness import accepting_check, redis_check, spool_check, workers_check
from ratelimit import UploadLimits

log = logging.getLogger("focalpoint.service")


def redis_client(url: str) -> redis.Redis:
    """The one way every part connects to Redis: bounded timeouts, so a dead Redis is an error, not a hang."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)


@dataclass
class Connected:
    """What every process of a deployment shares through Redis: the client, the job store and the broker."""

    client: redis.Redis
    store: RedisJobStore
    broker: RedisBroker


def connect(settings: Settings, url: str, clock: Callable[[], float]) -> Connected:
    from actors.broker import make_broker

    client = redis_client(url)
    return Connected(client, RedisJobStore(client, settings.redis_namespace, clock, settings.job_ttl_s),
                     make_broker(url, settings.redis_namespace, settings.worker_heartbeat_timeout_s))


class Service:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.embedded: EmbeddedRedis | None = None
        self.redis_url = settings.redis_url or ""
        self.server: tornado.httpserver.HTTPServer | None = None
        self.port = 0
        self.frontdoor: Any = None
        self.workers: Any = None
        self.metrics: Metrics | None = None
        self._client: redis.Redis | None = None

    def start_redis(self) -> str:
        if self.settings.redis_url is None:
            self.embedded = EmbeddedRedis(self.settings.data_dir)
            self.redis_url = self.embedded.start()
        return self.redis_url

    async def start(self, *, with_workers: bool | None = None) -> None:
        """Start everything; ``with_workers`` defaults to True on the embedded default only."""
        from actors.dispatch import DramatiqDispatcher
        from frontdoor import Frontdoor, make_app, make_server

        s = self.settings
        s.spool_dir.mkdir(parents=True, exist_ok=True)
        url = self.start_redis()
        parts = connect(s, url, self.clock)
        self._client = client = parts.client
        self.metrics = Metrics()
        self.metrics.watch(JobStateCollector(lambda: count_open_jobs(client, s.redis_namespace), self.clock))
        self.frontdoor = Frontdoor(settings=s, store=parts.store, dispatcher=DramatiqDispatcher(parts.broker),
                                   clock=self.clock, metrics=self.metrics,
                                   limits=UploadLimits.from_settings(s, url, clock=self.clock))
        if with_workers if with_workers is not None else s.embedded:
            from actors.runtime import start_workers

            self.workers = start_workers(s, parts.broker, parts.store, self.clock, client, self.metrics)
        self.server = make_server(make_app(self.frontdoor, self._extra_routes()))
        sockets = tornado.netutil.bind_sockets(s.port, s.host)
        self.server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        log.info("frontdoor_listening", extra={"fields": {
            "host": s.host, "port": self.port, "embedded": s.embedded, "workers": self.workers is not None}})

    def _extra_routes(self) -> list[Any]:
        from frontdoor.core import redis_core
        from frontdoor.pages import page_routes
        from frontdoor.uploads import upload_routes

        s, client, fd = self.settings, self._client, self.frontdoor
        assert client is not None and self.metrics is not None
        checks = {
            "redis": redis_check(client.ping),
            "spool": spool_check(s.spool_dir),
            "workers": workers_check(client, dramatiq_namespace(s.redis_namespace), s.worker_heartbeat_timeout_s,
                                     self.clock),
            "accepting": accepting_check(lambda: bool(fd.accepting)),
        }
        return [*observability_routes(registry=self.metrics.registry, checks=checks, executor=fd.executor),
                *page_routes(fd), *upload_routes(fd, redis_core(fd, client))]

    async def stop(self, grace_s: float | None = None) -> None:
        """Graceful shutdown: take no new uploads, let running ones finish within ``grace_s`` (default
        FOCALPOINT_SHUTDOWN_GRACE), cut the rest (their jobs fail ``client_aborted`` and free their attempts,
        so clients send them again), then stop the workers (running uploads pause and re-queue themselves)."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        fd = self.frontdoor
        if fd is not None:
            fd.accepting = False
        if self.server is not None:
            self.server.stop()  # no new connections
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace
            while fd is not None and fd.inflight and loop.time() < deadline:
                await asyncio.sleep(0.05)
            if fd is not None and fd.inflight:
                log.warning("shutdown_cutting_uploads", extra={"fields": {"uploads": len(fd.inflight)}})
            await self.server.close_all_connections()
            cleanup_deadline = loop.time() + 5  # the cut uploads fail their jobs and remove their files
            while fd is not None and fd.inflight and loop.time() < cleanup_deadline:
                await asyncio.sleep(0.05)
        if self.workers is not None:
            self.workers.stop()
        if self.frontdoor is not None:
            self.frontdoor.executor.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()
        if self.embedded is not None:
            self.embedded.stop()
