"""Rate limits of the upload service: a thin, typed layer over ``limits`` (sliding-window counter on Redis).

- :class:`UploadLimits` (``rules``): the service's three limits, built from Settings.
- :class:`RateLimiter` (``limiter``): ``hit``/``peek`` any :class:`Policy` on any key, answering a
  :class:`Decision`; fails open or closed per policy when Redis is unreachable.
- :func:`render_headers` (``headers.render``): RateLimit-Policy / RateLimit / Retry-After for a decision.
- :func:`client_ip` / :func:`ip_key`: who a request counts against.
- :func:`storage_uri`: Settings' Redis URL as a ``limits`` storage URI.
"""

from focalpoint_upload.ratelimit.client_ip import UNKNOWN, client_ip, ip_key
from focalpoint_upload.ratelimit.errors import ConfigurationError, RateLimitError, StorageUnavailable
from focalpoint_upload.ratelimit.headers import render
from focalpoint_upload.ratelimit.limiter import RateLimiter
from focalpoint_upload.ratelimit.policy import Decision, Policy
from focalpoint_upload.ratelimit.rules import UploadLimits
from focalpoint_upload.ratelimit.storage import storage_uri

render_headers = render

__all__ = [
    "UNKNOWN",
    "ConfigurationError",
    "Decision",
    "Policy",
    "RateLimitError",
    "RateLimiter",
    "StorageUnavailable",
    "UploadLimits",
    "client_ip",
    "ip_key",
    "render",
    "render_headers",
    "storage_uri",
]
