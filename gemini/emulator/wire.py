"""The JSON shapes of the Files API as Google's servers send them: errors, timestamps, File resources.

Nothing here holds state; :mod:`gemini.emulator.state` builds on these, the handlers only serialise them.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

# google.rpc.Code names Google puts in ``error.status`` for each HTTP status it answers with.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    410: "NOT_FOUND",  # there is no rpc code for 410; the upload front end says NOT_FOUND
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def error_body(code: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``{"error": {"code", "message", "status"[, "details"]}}`` exactly as Google's JSON errors look."""
    err: dict[str, Any] = {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        err["details"] = details
    return {"error": err}


def retry_info(delay_s: float) -> dict[str, Any]:
    """A ``google.rpc.RetryInfo`` detail; protobuf JSON writes a Duration as decimal seconds plus ``s``."""
    text = f"{delay_s:.0f}s" if float(delay_s).is_integer() else f"{delay_s:.3f}s"
    return {"@type": RETRY_INFO, "retryDelay": text}


def quota_failure(quota_id: str, metric: str = "generativelanguage.googleapis.com/file_storage") -> dict[str, Any]:
    return {"@type": QUOTA_FAILURE, "violations": [{"quotaMetric": metric, "quotaId": quota_id}]}


def api_key_invalid() -> dict[str, Any]:
    return error_body(400, "API key not valid. Please pass a valid API key.",
                      [{"@type": ERROR_INFO, "reason": "API_KEY_INVALID", "domain": "googleapis.com"}])


def rfc3339(epoch_s: float) -> str:
    """Z-normalised RFC 3339 with 6 fractional digits (Google emits 0, 3, 6 or 9)."""
    moment = dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha256_field(hexdigest: str) -> str:
    """The ``sha256Hash`` value: the proto field is ``bytes`` holding the *hex text* of the digest, so the
    JSON carries base64 of that text (what real responses show). Clients should accept either form."""
    return base64.b64encode(hexdigest.encode("ascii")).decode("ascii")


def file_body(
    *,
    file_id: str,
    display_name: str | None,
    mime_type: str,
    size: int,
    created: float,
    updated: float,
    expires: float,
    sha256_hex: str,
    base_url: str,
    version: str,
    state: str,
    error: tuple[int, str] | None,
) -> dict[str, Any]:
    """A ``File`` resource in camelCase, the way ``files.get`` and the final upload reply carry it."""
    body: dict[str, Any] = {"name": f"files/{file_id}"}
    if display_name:
        body["displayName"] = display_name
    body.update({
        "mimeType": mime_type,
        "sizeBytes": str(size),  # int64 is a string in protobuf JSON
        "createTime": rfc3339(created),
        "updateTime": rfc3339(updated),
        "expirationTime": rfc3339(expires),
        "sha256Hash": sha256_field(sha256_hex),
        "uri": f"{base_url}/{version}/files/{file_id}",
        "state": state,
        "source": "UPLOADED",
    })
    if error is not None:
        body["error"] = {"code": error[0], "message": error[1]}
    return body
