"""A thin adapter over the google-genai SDK for the calls that need no resuming: ``get`` and ``delete``.

The SDK is built with ``http_options`` (base URL, API version, timeout; no SDK retries: the callers' retry
policy decides), and its errors are translated here, so callers only ever see :mod:`gemini.errors`.
Note that Google answers 403 PERMISSION_DENIED ("... or it may not exist"), not 404, for a missing file.
"""

from __future__ import annotations

from typing import Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from focalpoint_upload.gemini import translate
from focalpoint_upload.gemini.errors import GeminiError, GeminiPermanent
from focalpoint_upload.gemini.model import FileInfo, file_from_json

_MAY_NOT_EXIST = "may not exist"


class GeminiFiles:
    """``base_url`` None means Google's endpoint. Thread-safe (the SDK's client holds one pool)."""

    def __init__(self, *, api_key: str, base_url: str | None = None, api_version: str = "v1beta",
                 timeout_s: float = 60.0) -> None:
        options = types.HttpOptions(base_url=base_url, api_version=api_version, timeout=int(timeout_s * 1000))
        self._client = genai.Client(api_key=api_key, http_options=options)

    def close(self) -> None:
        self._client.close()

    def get(self, name: str) -> FileInfo:
        """The file ``files/...`` as it stands now (state, expiry, error)."""
        what = f"files.get {name}"
        try:
            file = self._client.files.get(name=name)
        except Exception as exc:
            raise _translate(exc, what) from exc
        return file_from_json(file.model_dump(mode="json", by_alias=True, exclude_none=True))

    def delete(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete ``files/...``. With ``missing_ok`` a file that is already gone is not an error (Google
        cannot tell "gone" from "not yours": a 403 that says the file "may not exist" counts as gone)."""
        what = f"files.delete {name}"
        try:
            self._client.files.delete(name=name)
        except Exception as exc:
            err = _translate(exc, what)
            gone = isinstance(err, GeminiPermanent) and (
                err.code == "not_found" or (err.code == "permission_denied" and _MAY_NOT_EXIST in err.message))
            if missing_ok and gone:
                return
            raise err from exc


def _translate(exc: Exception, what: str) -> GeminiError:
    if isinstance(exc, genai_errors.APIError):
        response: Any = getattr(exc, "response", None)
        headers = dict(response.headers) if response is not None and hasattr(response, "headers") else {}
        body = exc.details if isinstance(exc.details, dict) else {}
        if "error" not in body and (exc.message or exc.status):
            body = {"error": {"code": exc.code, "message": exc.message, "status": exc.status}}
        return translate.from_http(int(exc.code or 0), {k.lower(): v for k, v in headers.items()}, body, what=what)
    if isinstance(exc, httpx2.TransportError | TimeoutError | ConnectionError):
        return translate.from_transport(exc, what=what)
    if isinstance(exc, ValueError):
        return GeminiPermanent("invalid_argument", f"{what}: {exc}")
    if isinstance(exc, GeminiError):
        return exc
    raise exc
