"""tus 1.0.0 and the IETF draft, as headers: each protocol reads its request headers into core calls and writes
the core's answers back as its headers. Nothing here stores, locks or counts.

tus 1.0.0 (``Tus-Resumable: 1.0.0``): extensions creation, creation-with-upload, termination, expiration and
checksum (sha1, sha256, md5). The largest PATCH body is advertised as ``Tus-Max-Chunk-Size`` (and, as for the
draft, ``Upload-Limit: max-append-size=N``).

The IETF draft "Resumable Uploads for HTTP" as tus-js-client 4.x speaks it (``protocol: 'ietf-draft-05'``,
``Upload-Draft-Interop-Version: 6``): ``Upload-Complete``, ``Upload-Offset``, ``Upload-Limit``,
``application/partial-upload``; a wrong offset is a 409 carrying the expected ``Upload-Offset``. tus-js-client
says ``Upload-Complete: ?0`` on every PATCH of a stream, so reaching the declared length completes the upload
whatever ``Upload-Complete`` said; ``?1`` before the length is reached is refused.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from email.utils import formatdate

from focalpoint_upload.config import Settings
from focalpoint_upload.frontdoor.append import ALGORITHMS, Checksum, Ended
from focalpoint_upload.frontdoor.core import Offset
from focalpoint_upload.frontdoor.errors import ApiError, bad_request
from focalpoint_upload.frontdoor.filename import clean_file_name

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
TUS_BODY = "application/offset+octet-stream"
DRAFT_BODY = "application/partial-upload"
DRAFT_VERSIONS = ("6",)
FILE_NAME_KEYS = ("filename", "name")  # the metadata keys clients name the file by (tus-js-client, Uppy, tuspy)
EXPOSED = ("Location, Upload-Offset, Upload-Length, Upload-Expires, Upload-Limit, Upload-Complete, Upload-Metadata, "
           "Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Max-Chunk-Size, Tus-Checksum-Algorithm, "
           "X-Request-Id, Retry-After")
ALLOWED_HEADERS = ("Content-Type, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Checksum, Upload-Complete, "
                   "Upload-Defer-Length, Upload-Concat, Upload-Draft-Interop-Version, Tus-Resumable, X-Attempt-Id, "
                   "X-Request-Id, X-HTTP-Method-Override")


@dataclass(frozen=True)
class Creation:
    length: int | None
    file_name: str | None
    media_type: str | None
    attempt_id: str | None


@dataclass(frozen=True)
class AppendHeaders:
    offset: int
    checksum: Checksum | None
    complete: bool | None  # the draft's Upload-Complete; None for tus


class Protocol:
    """The shared part; :class:`Tus` and :class:`Draft` differ only in names and a few statuses."""

    draft = False
    body_type = TUS_BODY

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def limit_header(self) -> str:
        return f"max-size={self.s.max_upload_bytes}, max-append-size={self.s.max_append_bytes}"

    def common(self) -> dict[str, str]:
        return {"Upload-Limit": self.limit_header()}

    def check(self, headers: dict[str, str]) -> ApiError | None:
        return None

    def options(self) -> dict[str, str]:
        return {}

    def creation(self, headers: dict[str, str]) -> Creation:
        meta = parse_metadata(headers.get("Upload-Metadata", ""))
        if headers.get("Upload-Defer-Length"):
            raise bad_request("length_required", "Deferred lengths are not supported; send Upload-Length.")
        length = _number(headers.get("Upload-Length"), "Upload-Length")
        return Creation(length=length,
                        file_name=clean_file_name(meta.get("filename") or meta.get("name")),
                        media_type=meta.get("filetype") or meta.get("type"),
                        attempt_id=headers.get("X-Attempt-Id") or meta.get("attemptId") or None)

    def has_body(self, headers: dict[str, str]) -> bool:
        """A creation that carries data (creation-with-upload)."""
        return _media(headers) in (TUS_BODY, DRAFT_BODY) and headers.get("Content-Length", "0") != "0"

    def append(self, headers: dict[str, str]) -> AppendHeaders:
        if _media(headers) != self.body_type:
            raise ApiError(415, "unsupported_media_type", f"A PATCH body must be {self.body_type}.")
        offset = _number(headers.get("Upload-Offset"), "Upload-Offset")
        if offset is None:
            raise bad_request("offset_required", "Send Upload-Offset with every PATCH.")
        raw = headers.get("Upload-Checksum")
        return AppendHeaders(offset, Checksum.parse(raw) if raw else None, None)

    def expires(self, at: float | None) -> dict[str, str]:
        return {"Upload-Expires": formatdate(at, usegmt=True)} if at is not None else {}

    def created(self, location: str, offset: Offset) -> tuple[int, dict[str, str]]:
        return 201, {"Location": location, "Upload-Offset": str(offset.offset), **self.expires(offset.expires_at)}

    def head(self, offset: Offset) -> tuple[int, dict[str, str]]:
        headers = {"Upload-Offset": str(offset.offset), "Upload-Length": str(offset.length),
                   **self.expires(offset.expires_at)}
        meta = {"filename": offset.job.file_name, "filetype": offset.job.mime_type}
        encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items() if v)
        if encoded:  # tus: HEAD repeats the metadata the upload was created with (as we understood it)
            headers["Upload-Metadata"] = encoded
        return 200, headers

    def appended(self, ended: Ended, expires_at: float | None) -> tuple[int, dict[str, str]]:
        return 204, {"Upload-Offset": str(ended.offset), **self.expires(expires_at)}

    def error_headers(self, error: ApiError) -> dict[str, str]:
        expected = error.extra.get("expectedOffset")
        return {"Upload-Offset": str(expected)} if expected is not None else {}


class Tus(Protocol):
    def common(self) -> dict[str, str]:
        return {"Tus-Resumable": TUS_VERSION, "Tus-Max-Chunk-Size": str(self.s.max_append_bytes), **super().common()}

    def check(self, headers: dict[str, str]) -> ApiError | None:
        if headers.get("Tus-Resumable") != TUS_VERSION:
            return ApiError(412, "unsupported_version", f"This server speaks tus {TUS_VERSION} "
                                                        "(Tus-Resumable) or the IETF draft (interop version 6).",
                            headers={"Tus-Version": TUS_VERSION})
        return None

    def options(self) -> dict[str, str]:
        return {"Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS, "Tus-Max-Size":
                str(self.s.max_upload_bytes), "Tus-Checksum-Algorithm": ",".join(ALGORITHMS)}


class Draft(Protocol):
    draft = True
    body_type = DRAFT_BODY

    def check(self, headers: dict[str, str]) -> ApiError | None:
        if headers.get("Upload-Draft-Interop-Version") not in DRAFT_VERSIONS:
            return ApiError(400, "unsupported_version", "This server speaks the draft's interop version 6 only.")
        return None

    def append(self, headers: dict[str, str]) -> AppendHeaders:
        got = super().append(headers)
        return AppendHeaders(got.offset, got.checksum, _sf_bool(headers.get("Upload-Complete")))

    def creation(self, headers: dict[str, str]) -> Creation:
        got = super().creation(headers)
        if got.length is None and _sf_bool(headers.get("Upload-Complete")) and self.has_body(headers):
            # The draft lets a creation that carries the whole file omit Upload-Length: the body is the file.
            return Creation(_number(headers.get("Content-Length"), "Content-Length"), got.file_name,
                            got.media_type, got.attempt_id)
        return got

    def created(self, location: str, offset: Offset) -> tuple[int, dict[str, str]]:
        status, headers = super().created(location, offset)
        headers["Upload-Complete"] = "?1" if offset.complete else "?0"
        return status, headers

    def head(self, offset: Offset) -> tuple[int, dict[str, str]]:
        _, headers = super().head(offset)
        return 204, {**headers, "Upload-Complete": "?1" if offset.complete else "?0"}

    def appended(self, ended: Ended, expires_at: float | None) -> tuple[int, dict[str, str]]:
        _, headers = super().appended(ended, expires_at)
        headers["Upload-Complete"] = "?1" if ended.complete else "?0"
        return (200 if ended.complete else 204), headers

    def options(self) -> dict[str, str]:
        return {}


def protocol_for(headers: dict[str, str], settings: Settings) -> Protocol:
    return Draft(settings) if "Upload-Draft-Interop-Version" in headers else Tus(settings)


def parse_metadata(raw: str) -> dict[str, str]:
    """tus ``Upload-Metadata``: comma-separated ``key base64value`` pairs (a value may be absent)."""
    out: dict[str, str] = {}
    for pair in raw.split(","):
        key, _, value = pair.strip().partition(" ")
        if not key:
            continue
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value.strip() else ""
        except (binascii.Error, UnicodeDecodeError):
            # A file name that is no UTF-8 text is refused as X-File-Name's is on POST /api/upload.
            code = "bad_file_name" if key in FILE_NAME_KEYS else "bad_metadata"
            raise bad_request(code, f"Upload-Metadata value of {key!r} is not base64 UTF-8.") from None
    return out


def _media(headers: dict[str, str]) -> str:
    return headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _number(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.strip().isdigit():
        raise bad_request("bad_header", f"{name} must be a non-negative integer.")
    return int(raw)


def _sf_bool(raw: str | None) -> bool | None:
    if raw is None:
        return None
    if raw.strip() not in ("?0", "?1"):
        raise bad_request("bad_header", "Upload-Complete must be ?0 or ?1.")
    return raw.strip() == "?1"
