"""Metrics of the Dramatiq workers: our own middleware, and a metrics port for ``focalpoint-upload worker``.

Decision: Dramatiq's ``dramatiq.middleware.prometheus.Prometheus`` is *not* used. It is built for the
``dramatiq`` command line, and ``focalpoint-upload worker`` runs ``dramatiq.Worker`` inside its own process:

- its metrics are created in ``after_process_boot`` and its HTTP server is a ``forks`` entry; the ``dramatiq``
  CLI emits the one and starts the other, a plain ``Worker`` does neither, so every hook would fail with
  AttributeError (logged as critical on every message) and nothing would be served;
- it only works in prometheus_client's multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` must be set before
  ``prometheus_client`` is first imported (the value class is chosen at import), it is process-wide (every
  registry of the process changes behaviour), and its directory defaults to ``/tmp/dramatiq-prometheus``,
  shared by every Dramatiq process on the host and created when the module is imported;
- its server binds ``0.0.0.0:9191`` unless ``dramatiq_prom_host``/``dramatiq_prom_port`` are set before import.

Instead :class:`ActorMetrics` records the same things (messages by actor and outcome, duration, in progress)
into our :class:`~observability.metrics.Metrics`, and :func:`serve_metrics` exposes that registry (with the
Gemini call counters and job failures recorded by the same process) on a port of its own, opt-in by a setting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import dramatiq
from prometheus_client import start_http_server

from focalpoint_upload.observability.metrics import Metrics


class ActorMetrics(dramatiq.Middleware):
    """Counts and times every message a worker processes into ``metrics`` (``focalpoint_actor_*``)."""

    def __init__(self, metrics: Metrics, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._metrics = metrics
        self._monotonic = monotonic
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        with self._lock:
            self._started[message.message_id] = self._monotonic()
        self._metrics.actor_started(message.actor_name)

    def after_process_message(self, broker: dramatiq.Broker, message: Any, *, result: Any = None,
                              exception: BaseException | None = None) -> None:
        self._finish(message, "ok" if exception is None else "error")

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._finish(message, "skipped")

    def _finish(self, message: Any, outcome: str) -> None:
        with self._lock:
            started = self._started.pop(message.message_id, None)
        if started is None:
            return  # skipped by an earlier middleware before our before_process_message ran
        self._metrics.actor_finished(message.actor_name, outcome, self._monotonic() - started)


def add_actor_metrics(broker: dramatiq.Broker, metrics: Metrics) -> ActorMetrics:
    """Add :class:`ActorMetrics` to ``broker`` (before the Worker starts); returns it."""
    middleware = ActorMetrics(metrics)
    broker.add_middleware(middleware)
    return middleware


def instrument_worker_broker(broker: dramatiq.Broker, metrics: Metrics | None) -> None:
    """Everything a broker that runs workers needs, added in the right order: Sentry's per-message tags
    (:class:`~observability.sentry.MessageTags`, after Sentry's own middleware), worker presence for
    ``/readyz`` (:class:`~observability.presence.WorkerPresence`; RedisBroker only), and :class:`ActorMetrics`
    when ``metrics`` is given. Call it once, after the broker is built and before the Worker starts."""
    from focalpoint_upload.observability.presence import WorkerPresence
    from focalpoint_upload.observability.sentry import MessageTags

    broker.add_middleware(MessageTags())
    if hasattr(broker, "broker_id") and hasattr(broker, "client"):
        broker.add_middleware(WorkerPresence())
    if metrics is not None:
        add_actor_metrics(broker, metrics)


def serve_metrics(metrics: Metrics, host: str, port: int) -> tuple[int, Callable[[], None]]:
    """Serve ``metrics.registry`` at ``http://host:port/metrics`` from a daemon thread (prometheus_client's
    WSGI server). ``port`` 0 picks a free port. Returns the bound port and a function that stops the server."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return int(server.server_port), stop
