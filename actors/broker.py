"""The Dramatiq broker on Redis, tuned so a killed worker's message comes back within about a minute.

Field notes: with the defaults a SIGKILLed worker's in-flight message re-ran after 30 minutes, because
heartbeat maintenance runs on a random 1/1000 of broker calls and only after a 60 s heartbeat timeout.
"""

from __future__ import annotations

from dramatiq.brokers.redis import RedisBroker

# Out of a million broker calls (Dramatiq's scale). Idle workers fetch about once a second per queue, so one
# call in ten runs maintenance every few seconds: a dead worker's messages return ~30-40 s after its death.
MAINTENANCE_CHANCE = 100_000


def make_broker(redis_url: str, namespace: str, heartbeat_timeout_s: float = 30.0) -> RedisBroker:
    """The broker every process uses; ``heartbeat_timeout_s`` is FOCALPOINT_WORKER_HEARTBEAT_TIMEOUT."""
    return RedisBroker(  # type: ignore[no-untyped-call]
        url=redis_url, namespace=f"{namespace}:dramatiq", heartbeat_timeout=int(heartbeat_timeout_s * 1000),
        maintenance_chance=MAINTENANCE_CHANCE)
