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


# --- resumable uploads (/api/uploads: tus 1.0 and the IETF draft) ----------------------------------------------
def upload_gone(code: str, message: str) -> ApiError:
    """410: the upload expired (``upload_expired``), was cancelled, or failed; it cannot be resumed."""
    return ApiError(410, code, message)


def offset_mismatch(expected: int, given: int) -> ApiError:
    return ApiError(409, "offset_mismatch", f"The upload is at offset {expected}, not {given}; send from there.",
                    expectedOffset=expected, providedOffset=given)


def upload_complete(length: int) -> ApiError:
    return ApiError(409, "upload_complete", f"The upload already has all its {length} bytes.",
                    expectedOffset=length)


def upload_locked() -> ApiError:
    return ApiError(423, "upload_locked", "Another request is writing to this upload; try again shortly.",
                    headers={"Retry-After": "1"})


def checksum_mismatch(algorithm: str) -> ApiError:
    """tus's 460: this request's bytes did not match its Upload-Checksum; they were thrown away."""
    return ApiError(460, "checksum_mismatch", f"The {algorithm} checksum of the body does not match "
                                              "Upload-Checksum; its bytes were discarded. Send them again.")


def append_too_large(limit: int) -> ApiError:
    return ApiError(413, "append_too_large", f"One PATCH may carry at most {limit} bytes; send smaller pieces.",
                    limit=limit)


def exceeds_length(total: int) -> ApiError:
    return ApiError(400, "exceeds_upload_length", f"The body would take the upload past its length of {total}.")


def attempt_mismatch() -> ApiError:
    # Says nothing about the recorded job (not its id, size, type or name): it is not this request's to know.
    return ApiError(422, "attempt_mismatch", "This attempt id was used for a different file. Send a new file with a "
                                             "new attempt id.")


def client_too_slow(min_bytes_per_s: int, window_s: float) -> ApiError:
    """The body arrived slower than the minimum rate: the connection is closed after this answer."""
    return ApiError(408, "client_too_slow",
                    f"The request body arrived slower than {min_bytes_per_s} bytes/s over {window_s:g} s; "
                    "it was cut off. Send it again on a faster connection.",
                    headers={"Connection": "close"}, minBytesPerSecond=min_bytes_per_s, windowSeconds=window_s)


def too_many_uploads(kind: str, cap: int, retry_after_s: int = 5) -> ApiError:
    """Over the cap of uploads streaming at once for one client IP or principal (``kind``)."""
    who = "client address" if kind == "ip" else "user"
    return ApiError(429, "too_many_uploads",
                    f"This {who} already has {cap} uploads streaming; wait for one to finish, then send again.",
                    headers={"Retry-After": str(retry_after_s)}, limit=cap)


def method_not_allowed(method: str, allowed: tuple[str, ...]) -> ApiError:
    return ApiError(405, "method_not_allowed", f"{method} is not allowed here; use {', '.join(allowed) or 'nothing'}.",
                    headers={"Allow": ", ".join(allowed)}, allowed=list(allowed))


def empty_file() -> ApiError:
    return ApiError(400, "empty_file", "The file is empty (0 bytes); choose a file with content.")
