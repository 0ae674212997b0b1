"""HTTP answers and transport failures -> :mod:`gemini.errors`. The single place that decides what is
worth retrying.

Rules: 408, 429, 500, 502, 503, 504 are transient, except a 429 that waiting will not fix (a
``QuotaFailure`` with no ``RetryInfo``, a per-day quota, or a retry delay above ``max_retry_delay_s``):
that is permanent ``quota_exhausted``. Every other 4xx is permanent. Connection errors and timeouts are
transient without a hint.

It is also the one place that says what a client may read about a Gemini failure (:func:`public_message`):
a fixed sentence per code. Gemini's own text (``GeminiError.message``, a FAILED file's reason) may carry
request details, URLs or internal names: it goes to the logs, never into a job's public status.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

from focalpoint_upload.gemini.errors import GeminiError, GeminiPermanent, GeminiTransient, SessionGone

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_DELAY_S = 3600.0  # a server asking us to wait longer than an hour means "not today"
# An upload session URL is a bearer capability: its upload_id never goes into an error text (errors are logged,
# sent to Sentry and stored as the job's last error).
_UPLOAD_ID = re.compile(r"(?i)(upload_id=)[^&\s\"'#<>)\]]+")
_CODES = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied", 404: "not_found",
          409: "conflict", 413: "too_large"}


PROCESSING_FAILED = "gemini_processing_failed"
TRANSIENT_MESSAGE = "Gemini could not be reached or was busy; the upload is retried automatically."
_PUBLIC: dict[str, str] = {
    "invalid_argument": "Gemini refused the file as invalid.",
    "api_key_invalid": "The service's Gemini API key was refused; the operator has to fix it.",
    "unauthenticated": "Gemini refused the service's credentials; the operator has to fix them.",
    "permission_denied": "Gemini refused access to the file.",
    "not_found": "Gemini no longer has the file.",
    "conflict": "Gemini reported a conflict for this upload.",
    "too_large": "The file is larger than Gemini accepts.",
    "quota_exhausted": "The Gemini quota is used up; try again later.",
    "protocol": "Gemini answered in a way the service does not understand.",
    "size_mismatch": "Gemini stored a file of another size than was uploaded; upload it again.",
    "http_error": "Gemini refused the upload.",
    "integrity_mismatch": "Gemini stored different bytes than were uploaded, also after a second upload.",
    PROCESSING_FAILED: "Gemini could not process the file (for example an unsupported or damaged format).",
}
_PUBLIC_DEFAULT = "Gemini refused the upload."


def public_message(error: GeminiError | str) -> str:
    """What a client may read about ``error`` (or about a failure code): our sentence, never Gemini's text."""
    if isinstance(error, (GeminiTransient, SessionGone)):
        return TRANSIENT_MESSAGE
    code = error.code if isinstance(error, GeminiPermanent) else error
    return _PUBLIC.get(str(code), _PUBLIC_DEFAULT)


def retry_after_header(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _details(body: Any) -> list[dict[str, Any]]:
    err = body.get("error") if isinstance(body, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def retry_delay(body: Any) -> float | None:
    """``RetryInfo.retryDelay`` of a Google JSON error (``"3s"``, ``"0.5s"``), in seconds; None if absent."""
    for detail in _details(body):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            raw = detail.get("retryDelay")
            if isinstance(raw, dict):  # proto3 JSON is a string, but be lenient with {"seconds", "nanos"}
                return float(raw.get("seconds", 0)) + float(raw.get("nanos", 0)) / 1e9
            if isinstance(raw, str) and raw.endswith("s"):
                try:
                    return max(0.0, float(raw[:-1]))
                except ValueError:
                    return None
    return None


def _quota_never(body: Any, delay: float | None, max_delay: float) -> bool:
    if delay is not None and delay > max_delay:
        return True
    for detail in _details(body):
        if str(detail.get("@type", "")).endswith("google.rpc.QuotaFailure"):
            violations = detail.get("violations") or []
            per_day = any("perday" in str(v.get("quotaId", "")).lower() for v in violations if isinstance(v, dict))
            if per_day or delay is None:
                return True
    return False


def message_of(body: Any, fallback: str) -> str:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    return fallback


def _reason(body: Any) -> str | None:
    for detail in _details(body):
        if str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            return str(detail.get("reason"))
    return None


def from_http(status: int, headers: Mapping[str, str], body: Any, *, what: str,
              max_retry_delay_s: float = MAX_RETRY_DELAY_S, now: float | None = None) -> GeminiError:
    """The error for a non-200 answer. ``body`` is the parsed JSON (anything else is fine); ``what``
    names the call for the message (``"files.get files/abc"``)."""
    message = f"{what}: HTTP {status}: {message_of(body, 'no error message')}"
    if status in TRANSIENT_STATUSES:
        header = retry_after_header(headers.get("retry-after"), now)
        delay = retry_delay(body)
        if status == 429 and _quota_never(body, delay, max_retry_delay_s):
            return GeminiPermanent("quota_exhausted", message, status)
        hints = [h for h in (header, delay) if h is not None]
        return GeminiTransient(message, max(hints) if hints else None)
    if status == 400 and _reason(body) == "API_KEY_INVALID":
        return GeminiPermanent("api_key_invalid", message, status)
    return GeminiPermanent(_CODES.get(status, "http_error"), message, status)


def from_transport(exc: BaseException, *, what: str) -> GeminiTransient:
    """A timeout, reset or refused connection: transient, no hint."""
    return GeminiTransient(redact(f"{what}: {type(exc).__name__}: {exc}"), None)


def redact(text: str) -> str:
    """``text`` with the value of every ``upload_id=`` removed."""
    return _UPLOAD_ID.sub(r"\1[Filtered]", text)
