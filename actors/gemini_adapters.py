"""The leg's Gemini ports on the production clients of ``gemini/`` (pointed at GEMINI_BASE_URL if set)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from focalpoint_upload.actors.ports import RemoteFile
from focalpoint_upload.config import Settings
from focalpoint_upload.gemini.files import GeminiFiles
from focalpoint_upload.gemini.model import FileInfo
from focalpoint_upload.gemini.resumable import ResumableClient
from focalpoint_upload.gemini.uploader import Uploader
from focalpoint_upload.observability.gemini_calls import CountedGeminiFiles, CountedResumableClient
from focalpoint_upload.observability.metrics import Metrics


def _remote(info: FileInfo) -> RemoteFile:
    expires = None
    if info.expiration_time is not None:
        expires = info.expiration_time.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return RemoteFile(name=info.name, uri=info.uri, state=info.state, expiration_time=expires,
                      error_message=info.error_message, sha256_hex=info.sha256_hex)


class ResumableUploader:
    """Our resumable uploader with no waiting inside a worker thread: a dropped connection is resumed at
    once (query, continue), anything that asks for patience (Retry-After, 5xx twice in a row) comes back
    to the leg as GeminiTransient, which waits in a delayed message instead."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        options: dict[str, Any] = {"api_key": settings.gemini_api_key or "", "base_url": settings.gemini_base_url,
                                   "api_version": settings.gemini_api_version,
                                   "timeout_s": settings.gemini_http_timeout_s}
        self._client = CountedResumableClient(metrics, **options) if metrics else ResumableClient(**options)
        self._uploader = Uploader(self._client, chunk_bytes=settings.gemini_chunk_bytes, max_retries=2,
                                  max_inline_wait_s=0.0, backoff_s=(0.0,))

    def upload(self, path: Path, size: int, mime_type: str, display_name: str | None, session_url: str | None,
               save_session: Callable[[str], None], save_progress: Callable[[int], None],
               limit: Callable[[], int] | None = None) -> RemoteFile:
        info = self._uploader.upload(path, size, mime_type, display_name=display_name, session_url=session_url,
                                     save_session=save_session, save_progress=save_progress, limit=limit)
        return _remote(info)

    def cancel(self, session_url: str) -> None:
        self._client.cancel(session_url)


class Files:
    """``files.get`` / ``files.delete`` through the google-genai SDK."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        options: dict[str, Any] = {"api_key": settings.gemini_api_key or "", "base_url": settings.gemini_base_url,
                                   "api_version": settings.gemini_api_version,
                                   "timeout_s": settings.gemini_http_timeout_s}
        self._files = CountedGeminiFiles(metrics, **options) if metrics else GeminiFiles(**options)

    def get(self, name: str) -> RemoteFile:
        return _remote(self._files.get(name))

    def delete(self, name: str) -> None:
        self._files.delete(name, missing_ok=True)


def make_uploader(settings: Settings, metrics: Metrics | None = None) -> ResumableUploader:
    return ResumableUploader(settings, metrics)


def make_files(settings: Settings, metrics: Metrics | None = None) -> Files:
    return Files(settings, metrics)
