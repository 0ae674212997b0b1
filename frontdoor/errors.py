"""Errors that reach clients: a stable code, a message and an HTTP status, rendered in one place.

Handlers raise (or hold) an :class:`ApiError`; ``BaseHandler.write_error`` renders every one of them as
``{"error": {"code", "message"}}`` with its status and extra headers. Codes are part of the API: never rename
one, add a new one instead.
"""

from __future__ import annotations

from typing import Any


class FrontdoorError(Exception):
    """Root of the frontdoor package."""


class ApiError(FrontdoorError):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra  # further members of the "error" object (e.g. jobId)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"The file is larger than the limit of {limit} bytes.", limit=limit)


def unsupported_media_type(media_type: str, allowed: tuple[str, ...]) -> ApiError:
    return ApiError(415, "unsupported_media_type",
                    f"Media type {media_type or '(none)'!r} is not accepted; allowed: {', '.join(allowed)}.",
                    allowed=list(allowed))


def insufficient_storage(message: str) -> ApiError:
    return ApiError(507, "insufficient_storage", message, headers={"Retry-After": "60"})


def attempt_in_progress(attempt_id: str, job_id: str) -> ApiError:
    return ApiError(409, "attempt_in_progress",
                    "An upload with this attempt id is still streaming; wait for it or poll its status.",
                    headers={"Retry-After": "5"}, attemptId=attempt_id, jobId=job_id)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"No {what}.")


def unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message, headers={"Retry-After": "5"})


def method_not_allowed(method: str, allowed: tuple[str, ...]) -> ApiError:
    return ApiError(405, "method_not_allowed", f"{method} is not allowed here; use {', '.join(allowed) or 'nothing'}.",
                    headers={"Allow": ", ".join(allowed)}, allowed=list(allowed))


def empty_file() -> ApiError:
    return ApiError(400, "empty_file", "The file is empty (0 bytes); choose a file with content.")
