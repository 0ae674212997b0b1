"""The upload service's limits, as the front door uses them (one object, built from Settings).

Which call counts what:

- :meth:`UploadLimits.check_ingest` — every upload request for an attemptId that is *not* a replay of a completed
  spool counts once against that attemptId (``limit_ingest_per_attempt``, default 2/minute), so a storm of
  re-sends of one attempt is cut off. Replays are answered from the job and must not call it; use
  :meth:`UploadLimits.peek_ingest` if a replay needs the numbers (it never changes a counter).
- :meth:`UploadLimits.check_new_upload` — call it only when the attemptId is new (no job exists for it yet): it
  counts one against the client's IP (``limit_new_uploads_per_ip``, default 30/hour). Retries of an existing
  attempt never call it, so never count against it. Two first requests of one attempt racing each other may
  both count: the caller decides what is new.
- :meth:`UploadLimits.check_status` — every status poll counts once against the client's IP
  (``limit_status_per_ip``, default 60/minute).

Owners (``owner``: the principal's key when auth is on, None for the anonymous principal): the per-attempt and
per-IP counters are per owner and IP (one user never spends another's quota behind a shared address), and new
uploads of an authenticated owner count against that owner wherever they come from (a user cannot multiply the
quota by using more addresses). With auth off every counter is keyed as before: by IP, by attemptId.

IPs are keyed with :func:`~ratelimit.client_ip.ip_key` (IPv6 per /64). Resolve the client first with
:meth:`UploadLimits.client_ip` (peer + trusted proxies' forwarding header), not with the raw peer behind a proxy.
Storage unreachable: status fails open or closed per ``ratelimit_fail_open_status`` (default open); new uploads
*and* per-attempt ingest per ``ratelimit_fail_open_uploads`` (default closed; the job store is the same Redis, so
an upload could not proceed anyway).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from focalpoint_upload.config import Settings
from focalpoint_upload.ratelimit.client_ip import ForwardingHeader, HeaderSource, Network, client_ip, ip_key
from focalpoint_upload.ratelimit.errors import ConfigurationError
from focalpoint_upload.ratelimit.limiter import RateLimiter
from focalpoint_upload.ratelimit.policy import Decision, Policy
from focalpoint_upload.ratelimit.storage import storage_uri


class UploadLimits:
    """The three policies of the upload service over one :class:`RateLimiter`. Synchronous and thread-safe."""

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        ingest: Policy,
        new_uploads: Policy,
        status: Policy,
        trusted_proxies: Sequence[Network] = (),
        forwarding_header: ForwardingHeader = "x-forwarded-for",
    ) -> None:
        self.limiter = limiter
        self.ingest = ingest
        self.new_uploads = new_uploads
        self.status = status
        self.trusted_proxies = tuple(trusted_proxies)
        self.forwarding_header: ForwardingHeader = forwarding_header

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        redis_url: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 0.5,
    ) -> UploadLimits:
        """The limits of ``settings``, counted in ``redis_url`` (default ``settings.redis_url``; the embedded
        server's ``unix://`` URL when that is None) under ``settings.redis_namespace``."""
        url = redis_url if redis_url is not None else settings.redis_url
        if not url:
            raise ConfigurationError("no Redis URL for the rate limiter (start the embedded Redis first)")
        limiter = RateLimiter(storage_uri(url), settings.redis_namespace, clock, timeout=timeout)
        return cls(limiter, **policies(settings), trusted_proxies=settings.trusted_proxies,
                   forwarding_header=settings.forwarded_header)

    def client_ip(self, peer: str, headers: HeaderSource) -> str:
        """The client address for a request from ``peer`` (see :func:`ratelimit.client_ip.client_ip`)."""
        return client_ip(peer, headers, self.trusted_proxies, header=self.forwarding_header)

    def check_status(self, ip: str, owner: str | None = None) -> Decision:
        """Count one status poll against ``ip`` (of ``owner``)."""
        return self.limiter.hit(self.status, *scoped(owner, ip_key(ip)))

    def peek_status(self, ip: str, owner: str | None = None) -> Decision:
        """The status limit for ``ip`` (of ``owner``) without counting."""
        return self.limiter.peek(self.status, *scoped(owner, ip_key(ip)))

    def check_ingest(self, attempt_id: str, owner: str | None = None) -> Decision:
        """Count one upload request for ``owner``'s ``attempt_id`` (never for a replay of a completed spool)."""
        return self.limiter.hit(self.ingest, *scoped(owner, attempt_id))

    def peek_ingest(self, attempt_id: str, owner: str | None = None) -> Decision:
        """The per-attempt limit for ``owner``'s ``attempt_id`` without counting (for replays)."""
        return self.limiter.peek(self.ingest, *scoped(owner, attempt_id))

    def check_new_upload(self, ip: str, owner: str | None = None) -> Decision:
        """Count one new attemptId against ``owner`` (if given; else against ``ip``): only for an attempt that
        has no job yet."""
        return self.limiter.hit(self.new_uploads, *new_upload_key(owner, ip))

    def peek_new_upload(self, ip: str, owner: str | None = None) -> Decision:
        """The new-uploads limit for ``owner`` (or ``ip``) without counting."""
        return self.limiter.peek(self.new_uploads, *new_upload_key(owner, ip))

    def close(self) -> None:
        self.limiter.close()


def policies(settings: Settings) -> dict[str, Policy]:
    """The service's three policies, by the keyword the limits classes take them under."""
    return {
        "ingest": Policy("ingest", settings.limit_ingest_per_attempt, fail_open=settings.ratelimit_fail_open_uploads),
        "new_uploads": Policy("uploads", settings.limit_new_uploads_per_ip,
                              fail_open=settings.ratelimit_fail_open_uploads),
        "status": Policy("status", settings.limit_status_per_ip, fail_open=settings.ratelimit_fail_open_status),
    }


def scoped(owner: str | None, key: str) -> tuple[str, ...]:
    # Two parts for an owner's key, one for the anonymous owner's: the same counters as before owners existed.
    return (key,) if owner is None else (owner, key)


def new_upload_key(owner: str | None, ip: str) -> tuple[str, ...]:
    return (owner,) if owner is not None else (ip_key(ip),)  # an owner key ("u:...") is never an address
