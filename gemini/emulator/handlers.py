"""Tornado handlers of the emulator: the resumable upload endpoint, the REST file routes.

Every handler logs one :class:`~gemini.emulator.state.LogEntry` (on finish, or on the connection's close
when no answer went out) and consults the fault book once, before doing any work. Bodies of requests that
are refused are read to the end first: refusing before the body is read makes clients see resets, not the
answer. The control routes live in :mod:`gemini.emulator.control`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import tornado.httputil
import tornado.web

from focalpoint_upload.gemini.emulator import wire
from focalpoint_upload.gemini.emulator.faults import Fault
from focalpoint_upload.gemini.emulator.records import ApiError, LogEntry
from focalpoint_upload.gemini.emulator.state import Emulator

VERSIONS = r"(v1beta|v1|v1alpha)"
_COMMANDS: dict[frozenset[str], str] = {
    frozenset({"start"}): "start",
    frozenset({"upload"}): "chunk",
    frozenset({"upload", "finalize"}): "finalize",
    frozenset({"finalize"}): "finalize",
    frozenset({"query"}): "query",
    frozenset({"cancel"}): "cancel",
}


# Header names as Google writes them, where Tornado's Http-Header-Case differs. Clients that keep the server's
# case (google-genai's async client on aiohttp, used whenever aiohttp is installed) look the upload URL up as
# "x-goog-upload-url" or "X-Goog-Upload-URL" only, never "X-Goog-Upload-Url".
_GOOGLE_CASE = {"X-Goog-Upload-Url": "X-Goog-Upload-URL"}


class _GoogleCaseHeaders(tornado.httputil.HTTPHeaders):
    def get_all(self) -> Iterator[tuple[str, str]]:
        for name, value in super().get_all():
            yield _GOOGLE_CASE.get(name, name), value


class Base(tornado.web.RequestHandler):
    """Logging, faults, API key and JSON replies shared by all emulator routes."""

    route = "unknown"
    fault: Fault | None = None

    def clear(self) -> None:
        super().clear()
        self._headers = _GoogleCaseHeaders(self._headers)

    def initialize(self, emulator: Emulator) -> None:
        self.em = emulator
        self.entry = LogEntry(seq=0, method=self.request.method or "", path=self.request.path, route=self.route)
        self._logged = False
        self.closed = False

    @property
    def base_url(self) -> str:
        return f"{self.request.protocol}://{self.request.host}"

    def check_api_key(self) -> None:
        key = self.request.headers.get("x-goog-api-key") or self.get_query_argument("key", None)
        if not key:
            raise ApiError(403, "Method doesn't allow unregistered callers (callers without established identity)."
                                " Please use API Key or other form of API consumer identity to call this API.")
        if key != self.em.config.api_key:
            err = ApiError(400, "")
            err.body = wire.api_key_invalid()
            raise err

    def pick_fault(self) -> None:
        with self.em.lock:
            self.fault = self.em.faults.match(self.route)
        self.entry.fault = self.fault.kind if self.fault else None

    async def before_work(self) -> bool:
        """Apply the fault that acts before any work; False when the request must not go on."""
        fault = self.fault
        if fault is None:
            return True
        if fault.kind == "error":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            details = []
            if fault.retry_delay is not None:
                details.append(wire.retry_info(fault.retry_delay))
            if fault.quota_id:
                details.append(wire.quota_failure(fault.quota_id))
            raise ApiError(fault.status, fault.message or _default_message(fault.status), details, headers)
        if fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
            if self.closed:  # the client gave up while we stalled: abandon, commit nothing
                self._finished = True
                return False
        if fault.kind == "drop_request":
            self.drop()
            return False
        return True

    def drop(self) -> None:
        """Close the connection without an answer (the request is logged with status None)."""
        self.record(None)
        self._finished = True  # nothing may be written on the closed connection
        self.request.connection.close()  # type: ignore[union-attr]

    def reply(self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None) -> None:
        if self.fault is not None and self.fault.kind == "drop_response":
            self.drop()  # the work is done and kept; only the answer is lost
            return
        self.set_status(status)
        for name, value in (headers or {}).items():
            self.set_header(name, value)
        if body is not None:
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.write(json.dumps(body))
        self.record(status)  # before the answer leaves, so a client that got it always finds it logged
        self.finish()

    def reply_error(self, err: ApiError) -> None:
        self.reply(err.code, err.body, err.headers)  # a drop_response fault loses error answers too

    def record(self, status: int | None) -> None:
        if not self._logged:
            self._logged = True
            self.entry.status = status
            self.em.record(self.entry)

    def on_finish(self) -> None:
        self.record(self.get_status())

    def on_connection_close(self) -> None:
        self.closed = True
        self.record(None)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(wire.error_body(status_code, self._reason)))


def _default_message(status: int) -> str:
    return {
        429: "Resource has been exhausted (e.g. check quota).",
        500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        503: "The service is currently unavailable.",
    }.get(status, "Injected error.")


class NotFound(Base):
    route = "unknown"

    def prepare(self) -> None:
        self.reply(404, wire.error_body(404, f"Method not found: {self.request.method} {self.request.path}."))


class FileHandler(Base):
    """``GET`` / ``DELETE /{version}/files/{id}``."""

    async def get(self, version: str, file_id: str) -> None:
        await self._serve("get", version, file_id)

    async def delete(self, version: str, file_id: str) -> None:
        await self._serve("delete", version, file_id)

    async def _serve(self, route: str, version: str, file_id: str) -> None:
        self.route = self.entry.route = route
        try:
            self.pick_fault()
            if not await self.before_work():
                return
            self.check_api_key()
            if route == "delete":
                self.em.delete_file(file_id)
                self.reply(200, {})
            else:
                self.reply(200, self.em.file_json(self.em.get_file(file_id), self.base_url, version))
        except ApiError as err:
            self.reply_error(err)


class ListHandler(Base):
    """``GET /{version}/files?pageSize=&pageToken=``."""

    route = "list"

    async def get(self, version: str) -> None:
        try:
            self.pick_fault()
            if not await self.before_work():
                return
            self.check_api_key()
            raw = self.get_query_argument("pageSize", None)
            try:
                size = int(raw) if raw else None
            except ValueError:
                raise ApiError(400, f"Invalid pageSize {raw!r}.") from None
            files, token = self.em.list_files(size, self.get_query_argument("pageToken", None))
            body: dict[str, Any] = {}
            if files:
                body["files"] = [self.em.file_json(f, self.base_url, version) for f in files]
            if token:
                body["nextPageToken"] = token
            self.reply(200, body)
        except ApiError as err:
            self.reply_error(err)


def parse_command(raw: str | None) -> str | None:
    parts = frozenset(p.strip().lower() for p in (raw or "").split(",") if p.strip())
    return _COMMANDS.get(parts)
