"""The response header fields for a :class:`~ratelimit.policy.Decision`, in one place.

IETF draft-ietf-httpapi-ratelimit-headers (current syntax, Structured Fields)::

    RateLimit-Policy: "status";q=60;w=60     quota q per window w seconds
    RateLimit: "status";r=12;t=30            r hits remaining, t seconds until capacity is next freed
    Retry-After: 30                          on a denial only (RFC 9110, whole seconds)

For the sliding-window counter there is no instant at which the whole quota comes back; ``t`` is when the
window next frees capacity (for a denial: when a request would pass again, equal to ``Retry-After``).
A degraded decision (storage unreachable) has no measurement: ``RateLimit`` is left out, the policy is not.
"""

from __future__ import annotations

from focalpoint_upload.ratelimit.policy import Decision


def _sf_string(text: str) -> str:
    """An RFC 8941 sf-string (policy names are already restricted to ``[a-z0-9_-]``; this is belt and braces)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(decision: Decision) -> dict[str, str]:
    """The header fields to send with the response this decision was made for (name -> value)."""
    name = _sf_string(decision.policy)
    headers = {"RateLimit-Policy": f"{name};q={decision.limit};w={decision.window}"}
    if not decision.degraded:
        headers["RateLimit"] = f"{name};r={decision.remaining};t={decision.reset_after}"
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
    return headers
