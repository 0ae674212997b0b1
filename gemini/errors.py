"""The three ways a Gemini call can fail, as the actors see them. Only this package translates HTTP and
SDK errors into these (see :mod:`gemini.translate`); nothing outside it should catch httpx2 or
``google.genai.errors``.

* :class:`GeminiTransient`: try again later (429, 5xx, timeouts, dropped connections). ``retry_after`` is
  the server's hint in seconds (``Retry-After`` or ``RetryInfo.retryDelay``), None if it gave none.
* :class:`GeminiPermanent`: trying again cannot help (bad request, auth, missing file, too large, a quota
  that will not come back soon). ``code`` is one of :data:`PERMANENT_CODES`.
* :class:`SessionGone`: the resumable upload session expired or was cancelled; start a new one.

And one failure that is not Gemini's: :class:`FileTooShort`, the local file ended before the upload's size.
"""

from __future__ import annotations

PERMANENT_CODES = (
    "invalid_argument",   # 400 (also an offset the server refused and could not be recovered from)
    "api_key_invalid",    # 400 with reason API_KEY_INVALID
    "unauthenticated",    # 401
    "permission_denied",  # 403; Google also answers this for a file that does not exist
    "not_found",          # 404 on a REST route
    "conflict",           # 409
    "too_large",          # 413, or a file over the per-file limit
    "quota_exhausted",    # 429 that waiting will not fix (storage quota, per-day quota, huge retry delay)
    "protocol",           # the server answered something this client cannot make sense of
    "size_mismatch",      # the finished file does not have the size we uploaded
    "http_error",         # any other 4xx
)


class GeminiError(Exception):
    """Root of every error of the Gemini boundary."""


class GeminiTransient(GeminiError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"GeminiTransient({self.message!r}, retry_after={self.retry_after!r})"


class GeminiPermanent(GeminiError):
    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" + (f" (HTTP {status})" if status is not None else ""))
        self.code = code
        self.message = message
        self.status = status


class FileTooShort(ValueError):
    """The local file holds fewer bytes than the size being uploaded. Not a Gemini failure: the caller's file
    is damaged (for the leg, the spool), and sending it again cannot help."""


class SessionGone(GeminiError):
    """The upload URL no longer accepts bytes (expired, cancelled or unknown): start a new session."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CaughtUp(Exception):  # not an error: a signal to the caller, like StopIteration
    """Stream-through: the upload has sent every byte the caller's ``limit`` allows (aligned to the session's
    granularity) and stopped before the end of the file; ``offset`` is the server's. Not a :class:`GeminiError`."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"caught up at {offset}")
        self.offset = offset
