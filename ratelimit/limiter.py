"""The synchronous limiter: ``hit`` counts, ``peek`` only looks; both answer with a :class:`Decision`.

Built on ``limits``' sliding-window-counter strategy (Redis in production, ``memory://`` in unit tests). Calls
block on Redis, so the front door runs them in its thread pool; one :class:`RateLimiter` is shared by all threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from focalpoint_upload.ratelimit.errors import StorageUnavailable
from focalpoint_upload.ratelimit.policy import Decision, Policy
from focalpoint_upload.ratelimit.storage import WindowStore, key_parts
from focalpoint_upload.ratelimit.window import Window, whole_seconds

log = logging.getLogger("focalpoint.ratelimit")


class RateLimiter:
    """Sliding-window-counter limits in ``storage_uri`` (a ``limits`` URI, see :func:`ratelimit.storage_uri`).

    - Keys are ``(policy.name, *key)`` under ``{namespace}:ratelimit:`` in Redis, so deployments and tests that
      share a Redis never see each other's counters.
    - ``clock`` (epoch seconds) is used for our own arithmetic only (``reset``, the storage cool-down); the
      windows themselves live in the storage (server-side TTLs on Redis).
    - Storage unreachable: the check answers the policy's default (``Policy.fail_open``) as a *degraded*
      decision and logs a warning ``ratelimit_degraded`` with the policy and error. For ``cooldown`` seconds
      after a failure the storage is not tried again (checks answer degraded at once, logged at debug), so a dead
      Redis costs one ``timeout`` per cool-down, not one per request. A fail-closed denial says
      ``retry_after=degraded_retry_after``.

    Thread-safe. Raises :class:`~ratelimit.ConfigurationError` at construction for a bad URI or namespace.
    """

    def __init__(
        self,
        storage_uri: str,
        namespace: str,
        clock: Callable[[], float] = time.time,
        *,
        timeout: float = 0.5,
        cooldown: float = 1.0,
        degraded_retry_after: int = 5,
    ) -> None:
        if degraded_retry_after < 1:
            raise ValueError("degraded_retry_after must be at least 1")
        self._store = WindowStore(storage_uri, namespace, timeout=timeout)
        self._clock = clock
        self._health = Health(cooldown, degraded_retry_after)

    def hit(self, policy: Policy, *key: str) -> Decision:
        """Count one request for ``key`` under ``policy`` if the limit allows it, and say whether it does.

        A denial counts nothing. Costs one storage round trip when denied, two when allowed: the window is read
        first (a full window is denied without writing), then ``limits`` counts the hit atomically; ``remaining``
        is that reading plus this hit, so concurrent hits in between may make it a little optimistic.
        """
        parts = parts_of(policy, key)
        now = self._clock()
        if (skipped := self._health.skip(policy, now)) is not None:
            return skipped
        try:
            window = self._store.window(policy.item, parts)
            if window.allows(policy.limit):
                if self._store.acquire(policy.item, parts):
                    return decision(policy, window.after_hit(), now, allowed=True)
                window = self._store.window(policy.item, parts)  # lost a race to another hit: re-read
            return decision(policy, window, now, allowed=False)
        except StorageUnavailable as exc:
            return self._health.failed(policy, now, exc)

    def peek(self, policy: Policy, *key: str) -> Decision:
        """What a :meth:`hit` would answer now, without counting anything (``allowed``: a hit would pass).

        Never changes a count: safe for replays and for reading the state to render headers. (On Redis the
        read may roll an expired current window over to "previous", the same bookkeeping a hit would do.)
        """
        parts = parts_of(policy, key)
        now = self._clock()
        if (skipped := self._health.skip(policy, now)) is not None:
            return skipped
        try:
            window = self._store.window(policy.item, parts)
        except StorageUnavailable as exc:
            return self._health.failed(policy, now, exc)
        return decision(policy, window, now, allowed=window.allows(policy.limit))

    def reset(self, policy: Policy, *key: str) -> None:
        """Forget the counters of ``key`` under ``policy``. Raises :class:`~ratelimit.StorageUnavailable`."""
        self._store.clear(policy.item, parts_of(policy, key))

    def close(self) -> None:
        """Release the storage's connections."""
        self._store.close()



class Health:
    """The storage's cool-down after a failure and the degraded decisions: shared by the sync limiter and the
    async one (``ratelimit.alimiter``). Thread-safe."""

    def __init__(self, cooldown: float, degraded_retry_after: int) -> None:
        if degraded_retry_after < 1:
            raise ValueError("degraded_retry_after must be at least 1")
        self._cooldown = cooldown
        self._degraded_retry_after = degraded_retry_after
        self._lock = threading.Lock()
        self._down_until = float("-inf")
        self._down_error = ""

    def skip(self, policy: Policy, now: float) -> Decision | None:
        """The degraded decision while the storage cools down after a failure; None: try the storage."""
        if now >= self._down_until:  # the common case, without the lock
            return None
        with self._lock:
            error = self._down_error
        log.debug("ratelimit_degraded", extra={"fields": {
            "policy": policy.name, "fail_open": policy.fail_open, "error": error, "cooldown": True}})
        return self.degraded(policy, now)

    def failed(self, policy: Policy, now: float, exc: StorageUnavailable) -> Decision:
        with self._lock:
            self._down_until = now + self._cooldown
            self._down_error = str(exc)
        log.warning("ratelimit_degraded", extra={"fields": {
            "policy": policy.name, "fail_open": policy.fail_open, "error": str(exc), "cooldown": False}})
        return self.degraded(policy, now)

    def degraded(self, policy: Policy, now: float) -> Decision:
        if policy.fail_open:
            return Decision(allowed=True, policy=policy.name, limit=policy.limit, window=policy.window,
                            remaining=policy.limit, reset=now, reset_after=0, retry_after=0, degraded=True)
        wait = self._degraded_retry_after
        return Decision(allowed=False, policy=policy.name, limit=policy.limit, window=policy.window,
                        remaining=0, reset=now + wait, reset_after=wait, retry_after=wait, degraded=True)


def parts_of(policy: Policy, key: tuple[str, ...]) -> tuple[str, ...]:
    """The storage identifiers: the policy's name, then the caller's key parts (escaped, at least one)."""
    return (policy.name, *key_parts(key))


def decision(policy: Policy, window: Window, now: float, *, allowed: bool) -> Decision:
    """The decision for ``window`` (already including this hit when allowed) at ``now``."""
    if allowed:
        delay = window.seconds_until_freed()
        after = whole_seconds(delay)
        return Decision(allowed=True, policy=policy.name, limit=policy.limit, window=policy.window,
                        remaining=window.remaining(policy.limit), reset=now + delay, reset_after=after,
                        retry_after=0)
    delay = window.seconds_until_below(policy.limit)
    after = max(1, whole_seconds(delay))
    return Decision(allowed=False, policy=policy.name, limit=policy.limit, window=policy.window,
                    remaining=0, reset=now + delay, reset_after=after, retry_after=after)

