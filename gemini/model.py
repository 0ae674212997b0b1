"""What the rest of the service knows about a Gemini file: :class:`FileInfo`, built from the REST JSON
(our resumable client) or from the SDK's ``types.File`` (the files adapter)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Any

from focalpoint_upload.gemini.errors import GeminiPermanent

STATES = ("STATE_UNSPECIFIED", "PROCESSING", "ACTIVE", "FAILED")


@dataclass(frozen=True)
class FileInfo:
    """A Gemini file. ``state`` is PROCESSING, ACTIVE or FAILED (or STATE_UNSPECIFIED);
    ``error_message`` is set only when FAILED; ``sha256_hex`` is the hex digest when Google gave one."""

    name: str
    uri: str
    state: str
    expiration_time: dt.datetime | None
    error_message: str | None
    size_bytes: int | None
    mime_type: str | None = None
    sha256_hex: str | None = None


def _time(raw: Any) -> dt.datetime | None:
    if not raw:
        return None
    text = str(raw)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # Python 3.11 takes at most 6 fractional digits; Google may send 9
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def sha256_hex(field: str | None) -> str | None:
    """``sha256Hash`` as a hex digest. Google's JSON carries base64 of the hex text; raw-digest base64
    (32 bytes) is accepted too, so the comparison does not depend on which form a server uses."""
    if not field:
        return None
    try:
        raw = base64.b64decode(field, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) == 32:
        return raw.hex()
    text = raw.decode("ascii", "replace").lower()
    return text if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else None


def file_from_json(body: Any) -> FileInfo:
    """A File resource (camelCase JSON) -> FileInfo; a body without ``name`` is a protocol error."""
    if not isinstance(body, dict) or not body.get("name"):
        raise GeminiPermanent("protocol", f"expected a File resource, got {str(body)[:200]!r}")
    error = body.get("error") if isinstance(body.get("error"), dict) else None
    size = body.get("sizeBytes")
    return FileInfo(
        name=str(body["name"]),
        uri=str(body.get("uri") or ""),
        state=str(body.get("state") or "STATE_UNSPECIFIED"),
        expiration_time=_time(body.get("expirationTime")),
        error_message=str(error.get("message") or "processing failed") if error else None,
        size_bytes=int(size) if size is not None else None,
        mime_type=body.get("mimeType"),
        sha256_hex=sha256_hex(body.get("sha256Hash")),
    )
