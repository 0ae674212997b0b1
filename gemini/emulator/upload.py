"""``POST /upload/{version}/files``: the resumable start and, with ``?upload_id=``, the session's URL.

The body is streamed (``@stream_request_body``) only so that a ``drop_request`` fault can cut a chunk
half-way; otherwise chunks are buffered whole and judged once complete, like Google's front end does:
the offset and the granularity are checked before a byte is committed, and a refused chunk commits nothing.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web

from focalpoint_upload.gemini.emulator.handlers import Base, parse_command
from focalpoint_upload.gemini.emulator.records import ApiError, Session

_STATUS = "X-Goog-Upload-Status"
_RECEIVED = "X-Goog-Upload-Size-Received"
_GRANULARITY = "X-Goog-Upload-Chunk-Granularity"


@tornado.web.stream_request_body
class UploadHandler(Base):
    route = "start"

    def prepare(self) -> None:
        self.request.connection.set_max_body_size(self.em.config.max_file_bytes + 2**20)  # type: ignore[union-attr]
        self.parts: list[bytes] = []
        self.received = 0
        self.upload_id = self.get_query_argument("upload_id", None)
        headers = self.request.headers
        route = parse_command(headers.get("X-Goog-Upload-Command"))
        self.entry.command = headers.get("X-Goog-Upload-Command")
        self.entry.upload_id = self.upload_id
        raw_offset = headers.get("X-Goog-Upload-Offset")
        self.offset = int(raw_offset) if raw_offset and raw_offset.isdigit() else None
        self.entry.offset = self.offset
        if self.upload_id is None:
            self.bad_command = route != "start"
            route = "start"
        else:
            self.bad_command = route in (None, "start")
        self.route = self.entry.route = route or "unknown"
        if not self.bad_command:
            self.pick_fault()

    def data_received(self, chunk: bytes) -> None:
        if self.closed:
            return
        fault = self.fault
        if fault is not None and fault.kind == "drop_request" and self.route in ("chunk", "finalize"):
            room = fault.after_bytes - self.received
            if len(chunk) >= room:
                self.parts.append(chunk[:room])
                self.received += room
                self._commit_partial()
                self.closed = True
                self.drop()
                return
        self.parts.append(chunk)
        self.received += len(chunk)

    def _commit_partial(self) -> None:
        """Keep what arrived before the drop, in whole granules (see the faults module)."""
        self.entry.bytes = self.received
        try:
            with self.em.lock:
                session = self.em.session(self.upload_id or "")
                if session.state != "active" or self.offset != session.received:
                    return
                data = b"".join(self.parts)
                keep = len(data) - len(data) % self.em.config.granularity
                self.em.commit(session, data[:keep])
                self.entry.committed = keep
        except ApiError:
            return

    async def post(self, version: str) -> None:
        if self.closed:
            self._finished = True
            return
        self.entry.bytes = self.received
        try:
            if self.bad_command:
                raise ApiError(400, f"Invalid X-Goog-Upload-Command {self.entry.command!r}.")
            if not await self.before_work():
                return
            if self.route == "start":
                self._start(version)
            else:
                self._session_command(version)
        except ApiError as err:
            self.reply_error(err)

    def _start(self, version: str) -> None:
        self.check_api_key()
        headers = self.request.headers
        if headers.get("X-Goog-Upload-Protocol", "").lower() != "resumable":
            raise ApiError(400, "Only X-Goog-Upload-Protocol: resumable is supported by the emulator.")
        meta = _json_body(b"".join(self.parts)).get("file") or {}
        if not isinstance(meta, dict):
            raise ApiError(400, "Invalid JSON payload: 'file' must be an object.")
        session = self.em.start(version, meta, headers.get("X-Goog-Upload-Header-Content-Length"),
                                headers.get("X-Goog-Upload-Header-Content-Type"))
        self.entry.upload_id = session.upload_id
        url = f"{self.base_url}/upload/{version}/files?upload_id={session.upload_id}&upload_protocol=resumable"
        self.reply(200, None, {"X-Goog-Upload-URL": url, _STATUS: "active",
                               _GRANULARITY: str(self.em.config.granularity)})

    def _session_command(self, version: str) -> None:
        upload_id = self.upload_id or ""
        if self.fault is not None and self.fault.kind == "expire_session":
            self.em.expire_session(upload_id)
        session = self.em.session(upload_id, for_query=self.route == "query")
        if self.route == "query":
            self._query(session, version)
        elif self.route == "cancel":
            self.em.cancel(session)
            self.reply(200, None, {_STATUS: "cancelled"})
        else:
            self._chunk(session, version)

    def _query(self, session: Session, version: str) -> None:
        headers = {_STATUS: session.state, _RECEIVED: str(session.received),
                   _GRANULARITY: str(self.em.config.granularity)}
        body = None
        if session.state == "final":
            body = {"file": self.em.file_json(self.em.get_file(session.file_id), self.base_url, version)}
        self.reply(200, body, headers)

    def _chunk(self, session: Session, version: str) -> None:
        data = b"".join(self.parts)
        if data and self.fault is not None and self.fault.kind == "corrupt_bytes":
            data = bytes([data[0] ^ 0xFF]) + data[1:]  # stored (and hashed) wrong; the reply looks normal
        finalize = self.route == "finalize"
        with self.em.lock:
            self.em.check_chunk(session, self.offset, len(data), finalize)
            self.em.commit(session, data)
            self.entry.committed = len(data)
            if finalize:
                processing = self.fault if self.fault and self.fault.kind.startswith("processing_") else None
                stored = self.em.finalize(session, processing)
        if finalize:
            self.reply(200, {"file": self.em.file_json(stored, self.base_url, version)}, {_STATUS: "final"})
        else:
            self.reply(200, None, {_STATUS: "active", _RECEIVED: str(session.received)})


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Invalid JSON payload received.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received: expected an object.")
    return body
