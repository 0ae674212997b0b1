"""The Dramatiq broker on Redis, tuned so a killed worker's message comes back within about a minute.

Field notes: with the defaults a SIGKILLed worker's in-flight message re-ran after 30 minutes, because
heartbeat maintenance runs on a random 1/1000 of broker calls and only after a 60 s heartbeat timeout.
"""

from __future__ import annotations

from dramatiq.brokers.redis import RedisBroker

HEARTBEAT_TIMEOUT_MS = 30_000
# Out of a million broker calls (Dramatiq's scale). Idle workers fetch about once a second per queue, so one
# call in ten runs maintenance every few seconds: a dead worker's messages return ~30-40 s after its death.
MAINTENANCE_CHANCE = 100_000


def make_broker(redis_url: str, namespace: str) -> RedisBroker:
    return RedisBroker(  # type: ignore[no-untyped-call]
        url=redis_url, namespace=f"{namespace}:dramatiq", heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE)
