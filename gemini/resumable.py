"""Our client for Google's resumable upload protocol (the SDK cannot resume: it never sends ``query``).

Protocol (what Google's upload front end and our emulator speak):

* ``start``: ``POST {base}/upload/{version}/files`` with the API key, ``X-Goog-Upload-Protocol: resumable``,
  ``-Command: start``, ``-Header-Content-Length/-Type`` and ``{"file": {"displayName"}}``; the answer carries
  ``X-Goog-Upload-URL`` and ``X-Goog-Upload-Chunk-Granularity``.
* chunks: ``POST {url}`` with ``-Command: upload`` or ``upload, finalize`` and ``-Offset``; non-final chunks
  are a multiple of the granularity; the final answer is ``{"file": {...}}`` with ``-Status: final``.
* ``query``: ``-Status`` (active|final|cancelled) and ``-Size-Received``, the offset to resume from.
* ``cancel``.

The upload URL is a capability: the API key goes out on ``start`` only. Every call has the timeout given
to the constructor; errors come out as :mod:`gemini.errors` only. Synchronous and thread-safe (one
``httpx2.Client`` with its pool), for actors running in worker threads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx2

from focalpoint_upload.gemini import translate
from focalpoint_upload.gemini.errors import GeminiPermanent, GeminiTransient, SessionGone
from focalpoint_upload.gemini.model import FileInfo, file_from_json

GOOGLE_BASE_URL = "https://generativelanguage.googleapis.com"


@dataclass(frozen=True)
class Session:
    url: str
    granularity: int | None  # None: the server did not say; any chunk size is then acceptable


@dataclass(frozen=True)
class UploadStatus:
    """What ``query`` learnt: ``status`` is ``active`` or ``final``; ``file`` is set when final and the
    server sent the File back (Google and the emulator do)."""

    status: str
    size_received: int
    granularity: int | None = None
    file: FileInfo | None = None


@dataclass(frozen=True)
class ChunkResult:
    """``status`` ``active`` (``size_received`` is the server's count) or ``final`` (``file`` is set)."""

    status: str
    size_received: int
    file: FileInfo | None = None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _json(response: httpx2.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


class ResumableClient:
    """``base_url`` None means Google's endpoint. ``transport`` is for tests only."""

    def __init__(self, *, api_key: str, base_url: str | None = None, api_version: str = "v1beta",
                 timeout_s: float = 60.0, transport: httpx2.BaseTransport | None = None) -> None:
        self.base_url = (base_url or GOOGLE_BASE_URL).rstrip("/")
        self.api_version = api_version
        self._api_key = api_key
        self._http = httpx2.Client(timeout=httpx2.Timeout(timeout_s), follow_redirects=False, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ResumableClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _post(self, url: str, headers: dict[str, str], content: bytes, what: str) -> httpx2.Response:
        try:
            return self._http.post(url, headers=headers, content=content)
        except httpx2.TransportError as exc:
            raise translate.from_transport(exc, what=what) from exc
        except httpx2.InvalidURL as exc:
            raise GeminiPermanent("protocol", translate.redact(f"{what}: invalid URL {url!r}: {exc}")) from exc

    def _session_error(self, response: httpx2.Response, what: str) -> Exception:
        if response.status_code in (404, 410) or response.headers.get("x-goog-upload-status") == "cancelled":
            return SessionGone(f"{what}: the upload session is gone (HTTP {response.status_code})",
                               response.status_code)
        return translate.from_http(response.status_code, response.headers, _json(response), what=what)

    def start(self, size: int, mime_type: str, display_name: str | None = None) -> Session:
        """Open a session for ``size`` bytes. Nothing is uploaded yet."""
        meta: dict[str, Any] = {"mimeType": mime_type}
        if display_name:
            meta["displayName"] = display_name
        headers = {
            "x-goog-api-key": self._api_key,
            "Content-Type": "application/json",
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": mime_type,
        }
        url = f"{self.base_url}/upload/{self.api_version}/files"
        response = self._post(url, headers, json.dumps({"file": meta}).encode(), "upload start")
        if response.status_code != 200:
            raise translate.from_http(response.status_code, response.headers, _json(response), what="upload start")
        upload_url = response.headers.get("x-goog-upload-url")
        if not upload_url:
            raise GeminiPermanent("protocol", "upload start: no X-Goog-Upload-URL in the answer", 200)
        return Session(upload_url, _int(response.headers.get("x-goog-upload-chunk-granularity")))

    def query(self, url: str) -> UploadStatus:
        """Where the session stands. Raises :class:`SessionGone` if expired, cancelled or unknown."""
        response = self._post(url, {"X-Goog-Upload-Command": "query"}, b"", "upload query")
        if response.status_code != 200:
            raise self._session_error(response, "upload query")
        status = response.headers.get("x-goog-upload-status", "")
        if status == "cancelled":
            raise SessionGone("upload query: the upload session was cancelled", 200)
        received = _int(response.headers.get("x-goog-upload-size-received"))
        if status not in ("active", "final") or received is None:
            raise GeminiTransient(f"upload query: unusable answer (status {status!r}, size {received!r})")
        body = _json(response)
        file = None
        if status == "final" and isinstance(body, dict) and body.get("file"):
            file = file_from_json(body["file"])
        return UploadStatus(status, received, _int(response.headers.get("x-goog-upload-chunk-granularity")), file)

    def upload_chunk(self, url: str, offset: int, data: bytes, finalize: bool) -> ChunkResult:
        """Send ``data`` at ``offset``; with ``finalize`` the upload ends and the File comes back."""
        command = "upload, finalize" if finalize else "upload"
        what = f"upload chunk at {offset} ({len(data)} bytes{', final' if finalize else ''})"
        headers = {"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset),
                   "Content-Type": "application/octet-stream"}
        response = self._post(url, headers, data, what)
        if response.status_code != 200:
            raise self._session_error(response, what)
        status = response.headers.get("x-goog-upload-status")
        if status == "final":
            body = _json(response)
            if not isinstance(body, dict) or "file" not in body:
                raise GeminiPermanent("protocol", f"{what}: final answer without a File", 200)
            file = file_from_json(body["file"])
            return ChunkResult("final", file.size_bytes or offset + len(data), file)
        if status == "active" and not finalize:
            received = _int(response.headers.get("x-goog-upload-size-received"))
            return ChunkResult("active", received if received is not None else offset + len(data))
        # A 200 without a usable status (the SDK retries these blindly): let the caller query.
        raise GeminiTransient(f"{what}: answer without a usable upload status ({status!r})")

    def cancel(self, url: str) -> None:
        """End the session; a session already gone is fine."""
        response = self._post(url, {"X-Goog-Upload-Command": "cancel"}, b"", "upload cancel")
        if response.status_code not in (200, 404, 410):
            raise translate.from_http(response.status_code, response.headers, _json(response), what="upload cancel")
