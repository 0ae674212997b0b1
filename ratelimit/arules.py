"""The upload service's limits for the front door, awaited: :class:`AsyncUploadLimits`.

The same three policies, keys and owner scoping as :class:`ratelimit.rules.UploadLimits` (see there for which
call counts what), over an :class:`~ratelimit.alimiter.AsyncRateLimiter` on ``limits.aio``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from focalpoint_upload.config import Settings
from focalpoint_upload.ratelimit.alimiter import AsyncRateLimiter
from focalpoint_upload.ratelimit.client_ip import ForwardingHeader, HeaderSource, Network, client_ip, ip_key
from focalpoint_upload.ratelimit.errors import ConfigurationError
from focalpoint_upload.ratelimit.policy import Decision, Policy
from focalpoint_upload.ratelimit.rules import new_upload_key, policies, scoped
from focalpoint_upload.ratelimit.storage import storage_uri

T = TypeVar("T")


class AsyncUploadLimits:
    def __init__(self, limiter: AsyncRateLimiter, *, ingest: Policy, new_uploads: Policy, status: Policy,
                 trusted_proxies: Sequence[Network] = (),
                 forwarding_header: ForwardingHeader = "x-forwarded-for") -> None:
        self.limiter = limiter
        self.ingest, self.new_uploads, self.status = ingest, new_uploads, status
        self.trusted_proxies = tuple(trusted_proxies)
        self.forwarding_header: ForwardingHeader = forwarding_header

    @classmethod
    def from_settings(cls, settings: Settings, redis_url: str | None = None, *,
                      clock: Callable[[], float] = time.time, timeout: float = 0.5) -> AsyncUploadLimits:
        """As ``UploadLimits.from_settings``; ``redis_url`` may also be ``memory://`` (unit tests)."""
        url = redis_url if redis_url is not None else settings.redis_url
        if not url:
            raise ConfigurationError("no Redis URL for the rate limiter (start the embedded Redis first)")
        limiter = AsyncRateLimiter(storage_uri(url), settings.redis_namespace, clock, timeout=timeout)
        return cls(limiter, **policies(settings), trusted_proxies=settings.trusted_proxies,
                   forwarding_header=settings.forwarded_header)

    def client_ip(self, peer: str, headers: HeaderSource) -> str:
        return client_ip(peer, headers, self.trusted_proxies, header=self.forwarding_header)

    async def check_status(self, ip: str, owner: str | None = None) -> Decision:
        return await self.limiter.hit(self.status, *scoped(owner, ip_key(ip)))

    async def check_status_then(self, ip: str, owner: str | None,
                                work: Callable[[], Awaitable[T]]) -> tuple[Decision, T | None]:
        """Count one status poll and, if it is allowed, run ``work`` (the job read) alongside the counting
        round trip (``AsyncRateLimiter.hit_then``); a poll already over the limit never runs it."""
        return await self.limiter.hit_then(self.status, scoped(owner, ip_key(ip)), work)

    async def check_ingest(self, attempt_id: str, owner: str | None = None) -> Decision:
        return await self.limiter.hit(self.ingest, *scoped(owner, attempt_id))

    async def peek_ingest(self, attempt_id: str, owner: str | None = None) -> Decision:
        return await self.limiter.peek(self.ingest, *scoped(owner, attempt_id))

    async def check_new_upload(self, ip: str, owner: str | None = None) -> Decision:
        return await self.limiter.hit(self.new_uploads, *new_upload_key(owner, ip))

    async def close(self) -> None:
        await self.limiter.close()
