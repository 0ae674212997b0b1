"""Gemini calls counted by operation and outcome: drop-in subclasses of the two Gemini clients.

``CountedResumableClient`` counts ``start``, ``query``, ``chunk`` (``upload_chunk``) and ``cancel``;
``CountedGeminiFiles`` counts ``get`` and ``delete``. Outcomes (``focalpoint_gemini_calls_total``): ok,
transient (GeminiTransient), permanent (GeminiPermanent, SessionGone), error (anything else). A ``delete``
with ``missing_ok`` of a file already gone is ``ok``, as the client reports it.
"""

from __future__ import annotations

from typing import Any

from focalpoint_upload.gemini.files import GeminiFiles
from focalpoint_upload.gemini.model import FileInfo
from focalpoint_upload.gemini.resumable import ChunkResult, ResumableClient, Session, UploadStatus
from focalpoint_upload.observability.metrics import Metrics


class CountedResumableClient(ResumableClient):
    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        """``kwargs`` are :class:`gemini.resumable.ResumableClient`'s (api_key, base_url, ...)."""
        super().__init__(**kwargs)
        self._metrics = metrics

    def start(self, size: int, mime_type: str, display_name: str | None = None) -> Session:
        with self._metrics.timed_gemini_call("start"):
            return super().start(size, mime_type, display_name)

    def query(self, url: str) -> UploadStatus:
        with self._metrics.timed_gemini_call("query"):
            return super().query(url)

    def upload_chunk(self, url: str, offset: int, data: bytes, finalize: bool) -> ChunkResult:
        with self._metrics.timed_gemini_call("chunk"):
            return super().upload_chunk(url, offset, data, finalize)

    def cancel(self, url: str) -> None:
        with self._metrics.timed_gemini_call("cancel"):
            super().cancel(url)


class CountedGeminiFiles(GeminiFiles):
    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        """``kwargs`` are :class:`gemini.files.GeminiFiles`'s (api_key, base_url, api_version, timeout_s)."""
        super().__init__(**kwargs)
        self._metrics = metrics

    def get(self, name: str) -> FileInfo:
        with self._metrics.timed_gemini_call("get"):
            return super().get(name)

    def delete(self, name: str, *, missing_ok: bool = False) -> None:
        with self._metrics.timed_gemini_call("delete"):
            super().delete(name, missing_ok=missing_ok)
