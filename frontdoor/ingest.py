"""Body formats of ``POST /api/upload``: turn body chunks into file bytes, validating as they come.

Two formats, one interface (:class:`BodyParser`): ``feed(chunk)`` returns the file bytes found in the chunk,
``close()`` checks the body ended well. Both raise :class:`ApiError` for bad input; nothing here writes.

- raw: the body is the file; its media type is the request's ``Content-Type``, its name ``X-File-Name``.
- multipart/form-data: exactly one part with a filename (the file); other parts are small form fields that
  are read and ignored. Parsed incrementally by ``multipart``'s ``PushMultipartParser`` (never the whole body
  in memory).
"""

from __future__ import annotations

from typing import Protocol

import multipart

from focalpoint_upload.frontdoor.errors import ApiError, bad_request, unsupported_media_type
from focalpoint_upload.frontdoor.filename import clean_file_name

FIELD_LIMIT = 64 * 1024  # a non-file part larger than this is not a form field


def media_type_allowed(media_type: str, allowed: tuple[str, ...]) -> bool:
    """``video/mp4`` matches ``video/*`` and ``video/mp4``; parameters are ignored."""
    base = media_type.split(";", 1)[0].strip().lower()
    if "/" not in base:
        return False
    major = base.split("/", 1)[0]
    return any(p == base or (p.endswith("/*") and p[:-2] == major) for p in allowed)


class BodyParser(Protocol):
    file_name: str | None
    media_type: str | None

    def feed(self, chunk: bytes) -> list[bytes | bytearray | memoryview]: ...

    def close(self) -> None: ...


class RawBody:
    def __init__(self, media_type: str, file_name: str | None) -> None:
        self.media_type: str | None = media_type
        self.file_name = file_name

    def feed(self, chunk: bytes) -> list[bytes | bytearray | memoryview]:
        return [chunk]

    def close(self) -> None:
        pass


class MultipartBody:
    def __init__(self, boundary: str, allowed: tuple[str, ...]) -> None:
        try:
            self._parser = multipart.PushMultipartParser(boundary, max_header_count=16)
        except multipart.MultipartError as exc:
            raise bad_request("malformed_multipart", f"Bad multipart boundary: {exc}") from None
        self._allowed = allowed
        self.file_name: str | None = None
        self.media_type: str | None = None
        self._in_file = False
        self._field_bytes = 0
        self._files = 0

    def feed(self, chunk: bytes) -> list[bytes | bytearray | memoryview]:
        out: list[bytes | bytearray | memoryview] = []
        try:
            for event in self._parser.parse(chunk):
                if isinstance(event, multipart.MultipartSegment):
                    self._start_part(event)
                elif event is None:
                    self._in_file = False
                elif self._in_file:
                    out.append(event)
                else:
                    self._field_bytes += len(event)
                    if self._field_bytes > FIELD_LIMIT:
                        raise bad_request("malformed_multipart", "A form field is too large; send the file as a "
                                                                 "part with a filename.")
        except multipart.MultipartError as exc:
            raise bad_request("malformed_multipart", f"The multipart body is malformed: {exc}") from None
        return out

    def _start_part(self, segment: multipart.MultipartSegment) -> None:
        self._field_bytes = 0
        if segment.filename is None:
            self._in_file = False
            return
        self._files += 1
        if self._files > 1:
            raise bad_request("multiple_file_parts", "Send exactly one file per upload.")
        media_type = (segment.content_type or "application/octet-stream").split(";", 1)[0].strip().lower()
        if not media_type_allowed(media_type, self._allowed):
            raise unsupported_media_type(media_type, self._allowed)
        self.file_name = clean_file_name(segment.filename)
        self.media_type = media_type
        self._in_file = True

    def close(self) -> None:
        try:
            self._parser.close(check_complete=True)
        except multipart.MultipartError as exc:
            raise bad_request("malformed_multipart", f"The multipart body ended early: {exc}") from None
        if self._files == 0:
            raise bad_request("no_file_part", "The multipart body has no file part (a part with a filename).")


def parser_for(content_type: str, file_name_header: str | None, allowed: tuple[str, ...]) -> BodyParser:
    """Pick the parser for a request, or raise the 400/415 the request deserves before any byte is read."""
    media_type = content_type.partition(";")[0]
    media_type = media_type.strip().lower()
    if media_type == "multipart/form-data":
        boundary = multipart.parse_options_header(content_type)[1].get("boundary", "")
        if not boundary:
            raise bad_request("malformed_multipart", "multipart/form-data needs a boundary parameter.")
        return MultipartBody(boundary, allowed)
    if not media_type_allowed(media_type, allowed):
        raise unsupported_media_type(media_type, allowed)
    return RawBody(media_type, _file_name(file_name_header))


def _file_name(header: str | None) -> str | None:
    """``X-File-Name``: percent-encoded UTF-8 (400 if it is not), then the one sanitiser of every way in."""
    from urllib.parse import unquote

    if not header:
        return None
    try:
        name = unquote(header.strip(), errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_file_name", "X-File-Name must be a percent-encoded UTF-8 file name.") from None
    return clean_file_name(name)
