"""What is limited (:class:`Policy`) and what the limiter answered (:class:`Decision`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from limits import RateLimitItem, parse_many

from focalpoint_upload.ratelimit.errors import ConfigurationError

# A policy name is sent to clients as an RFC 8941 sf-string and is part of every storage key.
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Policy:
    """A named limit: ``rate`` is one ``limits`` rate string (``"60/minute"``, ``"30 per hour"``).

    ``fail_open`` says what a check answers when the storage is unreachable: allow (True) or deny (False).
    Raises :class:`ConfigurationError` for a malformed name, a malformed rate, several rates in one string
    (``"1/second;10/minute"`` is valid ``limits`` syntax but not one policy) or a limit below 1.
    """

    name: str
    rate: str
    fail_open: bool = False
    item: RateLimitItem = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigurationError(f"policy name {self.name!r} must match {_NAME.pattern}")
        try:
            items = parse_many(self.rate)
        except ValueError:
            raise ConfigurationError(f"{self.rate!r} is not a rate limit (e.g. '60/minute')") from None
        if len(items) != 1:
            raise ConfigurationError(f"{self.rate!r}: one rate per policy, got {len(items)}")
        if items[0].amount < 1:
            raise ConfigurationError(f"{self.rate!r}: the limit must be at least 1")
        object.__setattr__(self, "item", items[0])

    @property
    def limit(self) -> int:
        """Hits allowed per window."""
        return int(self.item.amount)

    @property
    def window(self) -> int:
        """The window, in seconds."""
        return int(self.item.get_expiry())


@dataclass(frozen=True)
class Decision:
    """The answer to one check.

    - ``allowed``: the request may proceed (for :meth:`~ratelimit.limiter.RateLimiter.peek`: a hit now would be
      allowed).
    - ``limit`` / ``window``: the policy's quota and window (seconds); ``policy``: its name.
    - ``remaining``: further hits allowed right now, never negative (0 on every denial).
    - ``reset``: epoch seconds at which the window next frees capacity (for a denial: when a hit would be
      allowed again, if nothing else is counted meanwhile); ``reset_after``: the same as whole seconds from the
      check (0 when nothing is used).
    - ``retry_after``: whole seconds, 0 when allowed and at least 1 on every denial (equal to ``reset_after``).
    - ``degraded``: the storage was unreachable; the decision is the policy's fail-open/closed default, and
      ``remaining``/``reset`` are not measurements.

    Construction checks these invariants and raises ``ValueError`` when one is broken.
    """

    allowed: bool
    policy: str
    limit: int
    window: int
    remaining: int
    reset: float
    reset_after: int
    retry_after: int
    degraded: bool = False

    def __post_init__(self) -> None:
        if self.remaining < 0 or self.remaining > self.limit:
            raise ValueError(f"remaining {self.remaining} outside 0..{self.limit}")
        if self.reset_after < 0:
            raise ValueError("reset_after must not be negative")
        if self.allowed and self.retry_after != 0:
            raise ValueError("an allowed decision has retry_after 0")
        if not self.allowed and (self.retry_after < 1 or self.remaining != 0 or self.reset_after != self.retry_after):
            raise ValueError("a denial has remaining 0 and retry_after == reset_after >= 1")
