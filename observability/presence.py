"""Which Dramatiq workers are alive: a registry of worker brokers beside Dramatiq's heartbeats.

Dramatiq's Redis broker writes a heartbeat (``{dramatiq_ns}:__heartbeats__``, sorted set: broker id -> ms)
on *every* command, enqueue included, so a front door that just accepted an upload looks like a worker for a
heartbeat timeout. :class:`WorkerPresence` (a middleware on the brokers that run workers) records which
broker ids belong to workers in ``{dramatiq_ns}:__focalpoint_workers__`` (broker id -> boot ms); a worker is
alive when its id is there and its Dramatiq heartbeat is newer than the heartbeat timeout. A worker killed
with SIGKILL stops heartbeating, and :func:`alive_workers` removes its entry once it is older than the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import dramatiq
import redis

REGISTRY_SUFFIX = "__focalpoint_workers__"
MAX_WORKERS_READ = 1000


def dramatiq_namespace(redis_namespace: str) -> str:
    """The namespace ``actors.broker.make_broker`` gives the broker (FOCALPOINT_REDIS_NAMESPACE + ``:dramatiq``)."""
    return f"{redis_namespace}:dramatiq"


def registry_key(dramatiq_ns: str) -> str:
    return f"{dramatiq_ns}:{REGISTRY_SUFFIX}"


class WorkerPresence(dramatiq.Middleware):
    """Registers the broker's id as a worker when a Worker boots on it, and removes it when it stops.

    Needs a RedisBroker (it uses the broker's own ``client``, ``namespace`` and ``broker_id``). Failures to
    reach Redis are swallowed: presence is advisory, it must not keep a worker from starting or stopping.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        b = cast(Any, broker)
        try:
            b.client.zadd(registry_key(b.namespace), {b.broker_id: int(self._clock() * 1000)})
        except redis.RedisError:
            pass

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        b = cast(Any, broker)
        try:
            b.client.zrem(registry_key(b.namespace), b.broker_id)
        except redis.RedisError:
            pass


def alive_workers(client: redis.Redis, dramatiq_ns: str, heartbeat_timeout_s: float,
                  clock: Callable[[], float]) -> int:
    """How many registered workers heartbeated within ``heartbeat_timeout_s`` (one booted less than that
    ago counts even before its first heartbeat). Prunes entries that are older than the timeout and silent.
    Blocking, two or three round trips; raises ``redis.RedisError``."""
    now_ms = clock() * 1000
    cutoff = now_ms - heartbeat_timeout_s * 1000
    key = registry_key(dramatiq_ns)
    members = cast(list[tuple[bytes, float]], client.zrange(key, 0, MAX_WORKERS_READ - 1, withscores=True))
    if not members:
        return 0
    pipe = client.pipeline(transaction=False)
    for worker_id, _ in members:
        pipe.zscore(f"{dramatiq_ns}:__heartbeats__", worker_id)
    beats = cast(list[float | None], pipe.execute())
    alive, dead = 0, []
    for (worker_id, booted), beat in zip(members, beats, strict=True):
        if (beat is not None and beat >= cutoff) or (beat is None and booted >= cutoff):
            alive += 1
        elif booted < cutoff:
            dead.append(worker_id)
    if dead:
        client.zrem(key, *dead)
    return alive
