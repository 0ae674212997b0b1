"""The storage boundary: the one module that talks to ``limits``' storage and redis-py.

Everything else sees :class:`~ratelimit.window.Window` snapshots and our exceptions: ``limits`` and redis errors
become :class:`StorageUnavailable` here, and configuration problems :class:`ConfigurationError`.
Only the Redis family (``redis://``, ``rediss://``, ``redis+unix://``) and ``memory://`` (unit tests) are accepted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import redis
from limits import RateLimitItem
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.errors import StorageError as LimitsStorageError
from limits.storage import SlidingWindowCounterSupport, Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from focalpoint_upload.ratelimit.errors import ConfigurationError, StorageUnavailable
from focalpoint_upload.ratelimit.window import Window

REDIS_SCHEMES = frozenset({"redis", "rediss", "redis+unix"})
_MAX_PART = 100  # longer key parts are hashed, so a client-chosen id cannot bloat Redis keys


def storage_uri(redis_url: str) -> str:
    """The ``limits`` storage URI for a Redis URL as Settings holds it.

    ``redis://host:port/db`` and ``rediss://...`` are unchanged; ``unix:///path/sock[?db=N]`` becomes
    ``redis+unix:///path/sock[?db=N]``; ``memory://`` passes through (tests). Anything else raises
    :class:`ConfigurationError`.
    """
    text = redis_url.strip()
    scheme = urlsplit(text).scheme.lower()
    if scheme in REDIS_SCHEMES or scheme == "memory":
        return text
    if scheme == "unix":
        return "redis+unix" + text[len("unix"):]
    raise ConfigurationError(f"{redis_url!r} is not a redis://, rediss:// or unix:// URL")


def key_parts(key: Sequence[str]) -> tuple[str, ...]:
    """The identifiers of a limiter key, made safe for ``limits``' ``/``-joined keys and for Redis.

    Each part is percent-encoded (so ``"a/b"`` and ``("a", "b")`` stay distinct and no ``{}`` hash tag can be
    injected); parts longer than 100 characters once encoded are replaced by ``"h-" + sha256``.
    """
    if not key:
        raise ConfigurationError("a limiter key needs at least one part")
    parts = []
    for part in key:
        encoded = quote(part, safe="")
        if len(encoded) > _MAX_PART:
            encoded = "h-" + hashlib.sha256(part.encode("utf-8", "surrogatepass")).hexdigest()
        parts.append(encoded)
    return tuple(parts)


class WindowStore:
    """Sliding-window counters in a ``limits`` storage, every key under ``{namespace}:ratelimit:``.

    Thread-safe (redis-py's pool and ``limits``' memory storage both are). ``timeout`` bounds each Redis
    connect and command; redis-py's own retries are disabled, so a dead Redis costs one timeout, not four.
    """

    def __init__(self, uri: str, namespace: str, *, timeout: float = 0.5) -> None:
        if not namespace or any(c in namespace for c in "{} \t\r\n"):
            raise ConfigurationError(f"namespace {namespace!r} must be non-empty, without braces or spaces")
        scheme = urlsplit(uri).scheme.lower()
        options: dict[str, Any] = {}
        if scheme in REDIS_SCHEMES:
            options = {
                "key_prefix": f"{namespace}:ratelimit",
                "wrap_exceptions": True,
                "socket_connect_timeout": timeout,
                "socket_timeout": timeout,
                "retry": Retry(NoBackoff(), 0),
            }
        elif scheme != "memory":
            raise ConfigurationError(f"unsupported limiter storage {uri!r} (redis, rediss, redis+unix or memory)")
        try:
            storage = storage_from_string(uri, **options)
        except (LimitsConfigurationError, ValueError) as exc:
            raise ConfigurationError(f"cannot use limiter storage {uri!r}: {exc}") from exc
        if not isinstance(storage, Storage) or not isinstance(storage, SlidingWindowCounterSupport):
            raise ConfigurationError(f"{uri!r} has no synchronous sliding-window-counter support")
        self._storage = storage
        self._sliding: SlidingWindowCounterSupport = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self.is_redis = scheme in REDIS_SCHEMES

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except LimitsStorageError as exc:
            raise StorageUnavailable(f"{type(exc.storage_error).__name__}: {exc.storage_error}") from exc
        except (redis.RedisError, OSError) as exc:
            raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def window(self, item: RateLimitItem, key: tuple[str, ...]) -> Window:
        """A snapshot of ``key``'s counters; counts nothing. Raises :class:`StorageUnavailable`."""
        expiry = int(item.get_expiry())
        with self._translate():
            prev, prev_ttl, cur, cur_ttl = self._sliding.get_sliding_window(item.key_for(*key), expiry)
        return Window(expiry, int(prev), float(prev_ttl), int(cur), float(cur_ttl))

    def acquire(self, item: RateLimitItem, key: tuple[str, ...]) -> bool:
        """Count one hit if the limit allows it (atomic on Redis); False if it does not."""
        with self._translate():
            return self._strategy.hit(item, *key)

    def clear(self, item: RateLimitItem, key: tuple[str, ...]) -> None:
        """Forget ``key``'s counters."""
        with self._translate():
            self._strategy.clear(item, *key)

    def close(self) -> None:
        """Release the Redis connections (nothing for memory)."""
        client = getattr(self._storage, "storage", None)
        if isinstance(client, redis.Redis):
            client.close()
