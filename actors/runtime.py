"""Dramatiq wiring: the actors, their options, the adapters of the leg's ports, and in-process workers.

Actors are built by :func:`build_actors` on a broker handed in (no actor is declared at import time, so
importing this module connects to nothing). Every actor sets its own ``time_limit`` and ``max_retries``:
the Gemini retry policy is the leg's (a budget in the job record); Dramatiq's retries only cover bugs and
Redis hiccups, and when they are exhausted ``job_crashed`` fails the job so that none is left stuck.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from focalpoint_upload.actors.dispatch import CANCEL_ACTOR, GEMINI_QUEUE, STREAM_ACTOR, UPLOAD_ACTOR
from focalpoint_upload.actors.leg import Leg
from focalpoint_upload.actors.slots import RedisSlots
from focalpoint_upload.actors.storage import FileLife
from focalpoint_upload.actors.sweeper import Sweeper
from focalpoint_upload.actors.sweeploop import SweepLoop
from focalpoint_upload.actors.webhook_pump import WebhookPump, start_webhooks
from focalpoint_upload.config import Settings
from focalpoint_upload.jobs import ErrorCode, Event, IllegalTransition, JobNotFound, JobStore, StaleJob, failure
from focalpoint_upload.jobs.lease import Leases
from focalpoint_upload.jobs.storage import storage_budget
from focalpoint_upload.observability.alerts import JobFailureAlerts
from focalpoint_upload.observability.metrics import Metrics
from focalpoint_upload.observability.scrub import install_log_scrubbing
from focalpoint_upload.observability.storage_gauge import StorageBudgetCollector
from focalpoint_upload.observability.worker_metrics import instrument_worker_broker

log = logging.getLogger("focalpoint.actors")
POLL_ACTOR = "poll_gemini_file"
CRASHED_ACTOR = "job_crashed"
# An upload run uploads for at most one slice, then re-queues itself (behind other jobs' messages: fairness).
UPLOAD_SLICE_S = 60.0
COMMON = {"max_retries": 5, "min_backoff": 1_000, "max_backoff": 60_000, "on_retry_exhausted": CRASHED_ACTOR}


class DramatiqScheduler:
    def __init__(self, upload: dramatiq.Actor[Any, Any], poll: dramatiq.Actor[Any, Any],
                 stream: dramatiq.Actor[Any, Any]) -> None:
        self._upload, self._poll, self._stream = upload, poll, stream

    def upload(self, job_id: str, gen: int, delay_s: float = 0.0) -> None:
        self._upload.send_with_options(args=(job_id, gen), delay=int(delay_s * 1000) or None)

    def poll(self, job_id: str, gen: int, delay_s: float = 0.0) -> None:
        self._poll.send_with_options(args=(job_id, gen), delay=int(delay_s * 1000) or None)

    def stream(self, job_id: str, gen: int, delay_s: float = 0.0) -> None:
        self._stream.send_with_options(args=(job_id, gen), delay=int(delay_s * 1000) or None)


@dataclass
class Actors:
    upload: dramatiq.Actor[Any, Any]
    poll: dramatiq.Actor[Any, Any]
    cancel: dramatiq.Actor[Any, Any]
    crashed: dramatiq.Actor[Any, Any]
    stream: dramatiq.Actor[Any, Any]


def build_actors(broker: dramatiq.Broker, leg: Callable[[], Leg], store: JobStore) -> Actors:
    """Declare the actors on ``broker``; ``leg()`` gives the leg they run (built after the actors)."""

    def upload_to_gemini(job_id: str, gen: int = 0) -> None:
        leg().upload(job_id, gen)

    def poll_gemini_file(job_id: str, gen: int = 0) -> None:
        leg().poll(job_id, gen)

    def stream_to_gemini(job_id: str, gen: int = 0) -> None:
        leg().stream(job_id, gen)

    def cancel_gemini_upload(job_id: str) -> None:
        leg().cancel(job_id)

    def job_crashed(message: dict[str, Any], retries: dict[str, Any]) -> None:
        job_id = (message.get("args") or [None])[0]
        if not isinstance(job_id, str):
            return
        before = store.get(job_id)
        try:
            store.transition(job_id, Event.FAIL, **failure(ErrorCode.INTERNAL_ERROR))
        except (StaleJob, IllegalTransition, JobNotFound):
            return
        log.error("job_crashed", extra={"fields": {"jobId": job_id, "actor": message.get("actor_name"), **retries}})
        leg().alerts.job_failed(job_id, before.attempt_id if before else "", str(before.state) if before else "worker",
                                ErrorCode.INTERNAL_ERROR, "retries exhausted")

    def actor(fn: Callable[..., None], name: str, **options: Any) -> dramatiq.Actor[Any, Any]:
        return dramatiq.Actor(fn, broker=broker, actor_name=name, queue_name=GEMINI_QUEUE, priority=0,
                              options=options)

    slice_ms = int((UPLOAD_SLICE_S + 120) * 1000)
    return Actors(
        upload=actor(upload_to_gemini, UPLOAD_ACTOR, time_limit=slice_ms, **COMMON),
        poll=actor(poll_gemini_file, POLL_ACTOR, time_limit=120_000, **COMMON),
        cancel=actor(cancel_gemini_upload, CANCEL_ACTOR, time_limit=120_000, **COMMON),
        crashed=actor(job_crashed, CRASHED_ACTOR, time_limit=60_000, max_retries=10),
        # No job_crashed at the end of its retries: a failing stream must never fail an upload that is still
        # arriving; the upload after completion goes on from Gemini's offset and has the job's own budget.
        stream=actor(stream_to_gemini, STREAM_ACTOR, time_limit=slice_ms, max_retries=3, min_backoff=1_000,
                     max_backoff=10_000),
    )


def make_leg(settings: Settings, store: JobStore, client: redis.Redis, actors: Actors,
             clock: Callable[[], float], metrics: Metrics | None = None) -> Leg:
    from focalpoint_upload.actors.gemini_adapters import make_files, make_uploader

    return Leg(settings=settings, store=store, uploader=make_uploader(settings, metrics),
               files=make_files(settings, metrics),
               schedule=DramatiqScheduler(actors.upload, actors.poll, actors.stream),
               slots=RedisSlots(client, settings.redis_namespace, settings.gemini_max_concurrent_uploads,
                                ttl_s=_liveness_ttl(settings)),
               lease=Leases(client, settings.redis_namespace, ttl_s=_liveness_ttl(settings)),
               alerts=JobFailureAlerts(metrics), clock=clock, slice_s=UPLOAD_SLICE_S,
               storage=storage_budget(settings, client),
               on_storage_wait=metrics.storage_wait if metrics is not None else None)


def _liveness_ttl(settings: Settings) -> float:
    """Leases and upload slots are renewed while their run lives and lapse with a dead worker's heartbeat."""
    return max(3.0, settings.worker_heartbeat_timeout_s)


class Workers:
    """Dramatiq workers running in this process (threads) and the periodic sweeper, started and stopped with
    the process. ``stop`` makes running uploads pause at their next chunk (they re-send themselves), so no
    job is left half-owned by a process that is going away."""

    def __init__(self, broker: RedisBroker, threads: int, leg: Leg, sweeps: SweepLoop,
                 webhooks: WebhookPump | None = None) -> None:
        self.worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=250)
        self.leg = leg
        self.sweeps = sweeps
        self.webhooks = webhooks

    def start(self) -> Workers:
        self.worker.start()
        self.sweeps.start()
        if self.webhooks is not None:
            self.webhooks.start()
        return self

    def stop(self, timeout_ms: int = 30_000) -> None:
        self.leg.stopping.set()
        self.sweeps.stop()
        if self.webhooks is not None:
            self.webhooks.stop()
        self.worker.stop(timeout=timeout_ms)


def make_sweeper(settings: Settings, store: JobStore, client: redis.Redis, leg: Leg,
                 clock: Callable[[], float], metrics: Metrics | None = None) -> Sweeper:
    leases = Leases(client, settings.redis_namespace, ttl_s=_liveness_ttl(settings))
    life = FileLife(store, leg.storage, leg.files, clock) if leg.storage is not None else None
    return Sweeper(settings, store, leases, leg.resend, clock, alerts=leg.alerts, release_session=leg._abandon,
                   on_stuck=metrics.stuck_job if metrics is not None else None, file_life=life)


def start_workers(settings: Settings, broker: RedisBroker, store: JobStore, clock: Callable[[], float],
                  client: redis.Redis, metrics: Metrics | None = None) -> Workers:
    """Declare the actors, build the leg, start the worker threads and the sweeper (a first sweep at once:
    start-up recovery; on the embedded default, the only process of its deployment, as ``recovering``)."""
    leg = build_leg(settings, broker, store, clock, client, metrics)
    webhooks = start_webhooks(settings, broker, client, clock, metrics)  # None without FOCALPOINT_WEBHOOK_URL
    instrument_worker_broker(broker, metrics)
    if metrics is not None and leg.storage is not None:
        metrics.watch(StorageBudgetCollector(leg.storage))
    sweeps = SweepLoop(make_sweeper(settings, store, client, leg, clock, metrics), client, settings,
                       recovering=settings.embedded)
    return Workers(broker, settings.worker_threads, leg, sweeps, webhooks).start()


def build_leg(settings: Settings, broker: RedisBroker, store: JobStore, clock: Callable[[], float],
              client: redis.Redis, metrics: Metrics | None = None) -> Leg:
    """Declare the actors on ``broker`` and build the leg they run (its scheduler sends through them)."""
    # The leg's HTTP client logs every chunk request with its session URL (a bearer capability): scrubbed and
    # demoted to DEBUG at the logger, before any handler, Sentry breadcrumb or test capture sees it.
    install_log_scrubbing([settings.gemini_api_key])
    box: list[Leg] = []
    actors = build_actors(broker, lambda: box[0], store)
    box.append(make_leg(settings, store, client, actors, clock, metrics))
    return box[0]
