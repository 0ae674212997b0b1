"""Tornado handlers: ``/healthz`` (alive), ``/readyz`` (can serve), ``/metrics`` (Prometheus text).

They take plain values in ``initialize`` (mount them with a dict of arguments), do not depend on the front
door's context, and answer without Cache-Control surprises: ``no-store`` everywhere.

- ``/healthz``: 200 ``{"status":"ok"}`` whenever the IOLoop answers and every liveness check (instant ones,
  run inline: e.g. "the embedded Redis runs") passes; else 503 ``{"status":"failing","failing":[...]}``.
- ``/readyz``: runs every named check in the executor (concurrently, each bounded by ``timeout_s``);
  200 ``{"status":"ready","checks":{...}}`` or 503 ``{"status":"unready","failing":[{"check","reason"}],...}``.
- ``/metrics``: the registry in Prometheus text format (OpenMetrics if the scraper asks for it), rendered in
  the executor because scrape-time collectors may read Redis.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

import tornado.web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from focalpoint_upload.observability.readiness import Check, run_check


class _JsonHandler(tornado.web.RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    def write_json(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, separators=(",", ":")))


class HealthzHandler(_JsonHandler):
    def initialize(self, liveness: Mapping[str, Check] | None = None) -> None:
        self.liveness = liveness or {}

    async def get(self) -> None:
        failing = [{"check": name, "reason": reason} for name, check in self.liveness.items()
                   if (reason := run_check(check)) is not None]
        if failing:
            self.write_json(503, {"status": "failing", "failing": failing})
        else:
            self.write_json(200, {"status": "ok"})

    head = get


class ReadyzHandler(_JsonHandler):
    def initialize(self, checks: Mapping[str, Check], executor: Executor | None = None,
                   timeout_s: float = 3.0) -> None:
        self.checks = checks
        self.executor = executor
        self.timeout_s = timeout_s

    async def get(self) -> None:
        names = list(self.checks)
        reasons = await asyncio.gather(*(self._run(self.checks[name]) for name in names))
        results = dict(zip(names, reasons, strict=True))
        failing = [{"check": name, "reason": reason} for name, reason in results.items() if reason is not None]
        summary = {name: "ok" if reason is None else "failing" for name, reason in results.items()}
        if failing:
            self.write_json(503, {"status": "unready", "failing": failing, "checks": summary})
        else:
            self.write_json(200, {"status": "ready", "checks": summary})

    async def _run(self, check: Check) -> str | None:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.executor, run_check, check), self.timeout_s)
        except TimeoutError:
            return f"timed out after {self.timeout_s:g} s"


class MetricsHandler(tornado.web.RequestHandler):
    def initialize(self, registry: CollectorRegistry, executor: Executor | None = None) -> None:
        self.registry = registry
        self.executor = executor

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    async def get(self) -> None:
        encoder, content_type = choose_encoder(self.request.headers.get("Accept", ""))
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(self.executor, encoder, self.registry)
        self.set_header("Content-Type", content_type)
        self.finish(body)


def observability_routes(*, registry: CollectorRegistry | None, checks: Mapping[str, Check],
                         executor: Executor | None = None, readyz_timeout_s: float = 3.0,
                         liveness: Mapping[str, Check] | None = None) -> list[Any]:
    """The three routes, ready for ``make_app(fd, extra_routes=...)``; no ``/metrics`` when ``registry`` is None."""
    routes: list[Any] = [
        (r"/healthz", HealthzHandler, {"liveness": liveness or {}}),
        (r"/readyz", ReadyzHandler, {"checks": checks, "executor": executor, "timeout_s": readyz_timeout_s}),
    ]
    if registry is not None:
        routes.append((r"/metrics", MetricsHandler, {"registry": registry, "executor": executor}))
    return routes
