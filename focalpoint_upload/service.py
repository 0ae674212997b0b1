"""Assembly: build the parts of a process from the settings, start them in order, stop them in reverse.

``Service`` is what ``focalpoint-upload serve`` runs: the front door, and on the embedded default also the
private Redis and the Dramatiq workers, in one process. A multi-host deployment runs the same parts split
over processes (``serve`` with REDIS_URL, and ``worker``), all on one Redis.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import tornado.httpserver
import tornado.netutil
from dramatiq.brokers.redis import RedisBroker

from focalpoint_upload.config import Settings
from focalpoint_upload.embedded import EmbeddedRedis
from focalpoint_upload.jobs import RedisJobStore
from focalpoint_upload.lifecycle import StartError, private_dir
from focalpoint_upload.observability.handlers import observability_routes
from focalpoint_upload.observability.jobs_gauge import JobStateCollector, count_open_jobs
from focalpoint_upload.observability.metrics import Metrics
from focalpoint_upload.observability.presence import dramatiq_namespace
from focalpoint_upload.observability.readiness import (
    accepting_check,
    alive_check,
    redis_check,
    spool_check,
    workers_check,
)
from focalpoint_upload.ratelimit.arules import AsyncUploadLimits

log = logging.getLogger("focalpoint.service")


def redis_client(url: str) -> redis.Redis:
    """The one way every part connects to Redis: bounded timeouts, so a dead Redis is an error, not a hang."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)


def async_redis_client(url: str) -> redis.asyncio.Redis:
    """The front door's client (``redis.asyncio``), with the same bounded timeouts as :func:`redis_client`."""
    return redis.asyncio.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)


def probe_client(url: str) -> redis.Redis:
    """What ``/readyz`` and ``/metrics`` read Redis with: a short timeout, so a stuck Redis makes them answer
    "failing" in half a second instead of waiting for it (they run on their own small pool)."""
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


@dataclass
class Connected:
    """What every process of a deployment shares through Redis: the client, the job store and the broker."""

    client: redis.Redis
    store: RedisJobStore
    broker: RedisBroker


def connect(settings: Settings, url: str, clock: Callable[[], float]) -> Connected:
    from focalpoint_upload.actors.broker import make_broker
    from focalpoint_upload.actors.webhooks import outbox_for
    from focalpoint_upload.jobs.storage import storage_budget
    from focalpoint_upload.jobs.store import chain_hooks

    client = redis_client(url)
    outbox = outbox_for(settings, client, clock)  # final states are recorded for webhooks in the same MULTI
    budget = storage_budget(settings, client)  # and the Gemini storage budget follows the job's state there too
    hooks = [budget.on_transition] + ([outbox.on_transition] if outbox is not None else [])
    return Connected(client, RedisJobStore(client, settings.redis_namespace, clock, settings.job_ttl_s,
                                           on_transition=chain_hooks(*hooks)),
                     make_broker(url, settings.redis_namespace, settings.worker_heartbeat_timeout_s))


class ListenError(StartError):
    exit_status = 2


def listen_sockets(port: int, host: str) -> list[socket.socket]:
    """Bind the front door's port; a port that cannot be had is a one-line :class:`ListenError`."""
    try:
        return tornado.netutil.bind_sockets(port, host)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = f"port {port} is already in use on {host}"
        elif exc.errno == errno.EACCES:
            why = f"no permission to listen on port {port} on {host}"
        else:
            why = f"cannot listen on {host}:{port} ({exc.strerror or exc}); check --host or FOCALPOINT_HOST"
        raise ListenError(f"{why}; choose another port with --port or FOCALPOINT_PORT") from None


class Service:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time, *,
                 watchdog_interval_s: float = 1.0) -> None:
        self.settings = settings
        self.clock = clock
        self.watchdog_interval_s = watchdog_interval_s
        self.embedded: EmbeddedRedis | None = None
        self.redis_url = settings.redis_url or ""
        self.server: tornado.httpserver.HTTPServer | None = None
        self.port = 0
        self.frontdoor: Any = None
        self.workers: Any = None
        self.metrics: Metrics | None = None
        self._client: redis.Redis | None = None
        self.store: RedisJobStore | None = None  # the sync face, for tests and tools in this process
        self._aclient: redis.asyncio.Redis | None = None
        self._probe: redis.Redis | None = None
        # /metrics and /readyz never wait behind the front door's disk or dispatch pools.
        self._observability_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="observability")

    def start_redis(self) -> str:
        if self.settings.redis_url is None:
            self.embedded = EmbeddedRedis(self.settings.data_dir)
            self.redis_url = self.embedded.start()
            self.embedded.watch(self.watchdog_interval_s)
        return self.redis_url

    async def start(self, *, with_workers: bool | None = None) -> None:
        """Start everything; ``with_workers`` defaults to True on the embedded default only.

        The port is bound first, so a busy port fails before anything else runs. A start that fails stops
        whatever it had started (the embedded Redis included) and raises; :class:`StartError` is a user's
        error in one line."""
        s = self.settings
        private_dir(s.data_dir)
        if s.spool_dir.resolve().is_relative_to(s.data_dir.resolve()):
            private_dir(s.spool_dir)
        else:  # a directory of the operator's choosing: its mode is theirs (spool files are 0600 anyway)
            s.spool_dir.mkdir(parents=True, exist_ok=True)
        sockets = listen_sockets(s.port, s.host)
        try:
            self._start(sockets, with_workers)
        except BaseException:
            for sock in sockets:
                sock.close()
            await self.stop(grace_s=0)
            raise

    def _start(self, sockets: list[socket.socket], with_workers: bool | None) -> None:
        from focalpoint_upload.actors.dispatch import DramatiqDispatcher
        from focalpoint_upload.frontdoor import Frontdoor, make_app, make_server
        from focalpoint_upload.frontdoor.upload_slots import RedisUploadSlots
        from focalpoint_upload.jobs.astore import AsyncRedisJobStore

        s = self.settings
        url = self.start_redis()
        parts = connect(s, url, self.clock)
        self._client = client = parts.client
        self.store = parts.store
        self._aclient = aclient = async_redis_client(url)
        self._probe = probe = probe_client(url)
        self.metrics = Metrics()
        self.metrics.watch(JobStateCollector(lambda: count_open_jobs(probe, s.redis_namespace), self.clock))
        # The async face shares the sync store's layout (keys, compare-and-set writes, transition hooks).
        self.frontdoor = Frontdoor(settings=s, store=AsyncRedisJobStore(aclient, parts.store.layout, self.clock),
                                   dispatcher=DramatiqDispatcher(parts.broker), clock=self.clock,
                                   metrics=self.metrics, slots=RedisUploadSlots(aclient, s.redis_namespace),
                                   limits=AsyncUploadLimits.from_settings(s, url, clock=self.clock))
        if with_workers if with_workers is not None else s.embedded:
            from focalpoint_upload.actors.runtime import start_workers

            self.workers = start_workers(s, parts.broker, parts.store, self.clock, client, self.metrics)
        self.server = make_server(make_app(self.frontdoor, self._extra_routes()))
        self.server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        log.info("frontdoor_listening", extra={"fields": {
            "host": s.host, "port": self.port, "embedded": s.embedded, "workers": self.workers is not None}})

    def _extra_routes(self) -> list[Any]:
        from focalpoint_upload.frontdoor.core import redis_core
        from focalpoint_upload.frontdoor.pages import page_routes
        from focalpoint_upload.frontdoor.space import outstanding, pressure_check
        from focalpoint_upload.frontdoor.uploads import upload_routes

        s, client, fd = self.settings, self._probe, self.frontdoor
        assert client is not None and self._aclient is not None and self.metrics is not None
        checks = {
            "redis": redis_check(client.ping),
            "spool": spool_check(s.spool_dir, pressure_check(s, lambda: outstanding(fd.inflight))),
            "workers": workers_check(client, dramatiq_namespace(s.redis_namespace), s.worker_heartbeat_timeout_s,
                                     self.clock),
            "accepting": accepting_check(lambda: bool(fd.accepting)),
        }
        liveness = {}
        if self.embedded is not None:  # down while its watchdog restarts it: this process cannot work
            liveness["embedded_redis"] = alive_check(self.embedded.alive, "the embedded Redis is not running")
        return [*observability_routes(registry=self.metrics.registry, checks=checks,
                                      executor=self._observability_executor, liveness=liveness),
                *page_routes(fd), *upload_routes(fd, redis_core(fd, self._aclient))]

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
        try:
            if self.workers is not None:
                self.workers.stop()
            if self.frontdoor is not None:
                self.frontdoor.shutdown()
            self._observability_executor.shutdown(wait=False, cancel_futures=True)
            if self._aclient is not None:
                await self._aclient.aclose()
            if self.frontdoor is not None and self.frontdoor.limits is not None:
                await self.frontdoor.limits.close()
            for c in (self._client, self._probe):
                if c is not None:
                    c.close()
        finally:
            if self.embedded is not None:  # whatever failed above, the private Redis never outlives us
                self.embedded.stop()
