"""The package's exceptions: one root, :class:`RateLimitError`, so callers can catch everything from here at once.

``limits`` and redis-py exceptions never leave the package: the storage boundary (:mod:`ratelimit.storage`)
translates them into :class:`StorageUnavailable`, and a bad rate string or URL becomes :class:`ConfigurationError`.
"""

from __future__ import annotations


class RateLimitError(Exception):
    """Root of every exception raised by :mod:`ratelimit`."""


class ConfigurationError(RateLimitError, ValueError):
    """A policy, key, namespace or storage URI that cannot work (raised at construction, never per request)."""


class StorageUnavailable(RateLimitError):
    """The limiter's storage could not be reached or answered with an error.

    :class:`~ratelimit.limiter.RateLimiter` turns this into a degraded :class:`~ratelimit.policy.Decision`
    (fail open or closed per policy); it only escapes from :meth:`~ratelimit.limiter.RateLimiter.reset`.
    """
