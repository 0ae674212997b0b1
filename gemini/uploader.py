"""Crash-proof upload of one spooled file over the resumable protocol. Pure logic: no Dramatiq, no Redis.

Contract of :meth:`Uploader.upload`:

* ``save_session(url)`` is called after a session is opened and *before* any byte is sent, so a worker
  that dies at any later point leaves a URL behind; ``save_progress(offset)`` after every chunk the server
  confirmed (the server's count, never ours).
* Given a stored ``session_url`` the upload ``query``-s it and continues from ``X-Goog-Upload-Size-Received``;
  a session already ``final`` returns its file without sending a byte; an expired or cancelled one is
  replaced by a new session (saved again). A session lost mid-upload is replaced once per call.
* After a transient failure of a chunk it queries the server and resumes from the server's offset, so a
  chunk is sent again only if the server did not keep it (at most the bytes of one chunk per failure).
  Up to ``max_retries`` consecutive failures are absorbed in the call, waiting the server's hint
  (``Retry-After``/``RetryInfo``) or a short backoff; a hint longer than ``max_inline_wait_s`` or one
  failure too many raises :class:`GeminiTransient` for the caller's retry policy (which calls again with the
  stored URL). :class:`GeminiPermanent` is raised at once, except a refused chunk offset, which is
  re-synchronised by a query first.
* With ``limit`` (stream-through: the file is still growing), only bytes below ``limit()`` (asked before every
  chunk) are sent, in whole multiples of the granularity, and never the last byte: the upload is not
  finalised; when nothing more may be sent it raises :class:`CaughtUp` with the server's offset. A later call
  with the same session (and no ``limit``) sends the tail and finalises.
* Returns the final :class:`FileInfo` (normally PROCESSING or ACTIVE; polling is the caller's job).
  The caveat: Google returns the file in ``query`` once final; a server that did not would make a lost
  final answer unrecoverable here (``protocol`` error), since the file's name is known only from it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from focalpoint_upload.gemini.errors import CaughtUp, FileTooShort, GeminiPermanent, GeminiTransient, SessionGone
from focalpoint_upload.gemini.model import FileInfo
from focalpoint_upload.gemini.resumable import ResumableClient, UploadStatus

log = logging.getLogger(__name__)


def chunk_size(chunk_bytes: int, granularity: int | None) -> int:
    """``chunk_bytes`` rounded down to a multiple of the granularity (at least one granule)."""
    if not granularity or granularity <= 0:
        return max(1, chunk_bytes)
    return max(granularity, chunk_bytes // granularity * granularity)


def streamable(offset: int, step: int, limit: int, granularity: int | None) -> int:
    """How many bytes from ``offset`` may go now when only bytes below ``limit`` are durable: at most ``step``,
    a whole number of granules (0: wait for more)."""
    room = min(step, limit - offset)
    granule = granularity if granularity and granularity > 0 else 1
    return max(0, room // granule * granule)


@dataclass
class _Run:
    url: str | None
    offset: int = 0
    granularity: int | None = None
    failures: int = 0
    restarts: int = 0


class Uploader:
    def __init__(self, client: ResumableClient, *, chunk_bytes: int, max_retries: int = 3,
                 max_inline_wait_s: float = 10.0, backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.chunk_bytes = chunk_bytes
        self.max_retries = max_retries
        self.max_inline_wait_s = max_inline_wait_s
        self.backoff_s = backoff_s or (0.0,)
        self.sleep = sleep

    def upload(self, path: str | os.PathLike[str], size: int, mime_type: str, *, display_name: str | None = None,
               session_url: str | None = None, save_session: Callable[[str], None],
               save_progress: Callable[[int], None], limit: Callable[[], int] | None = None) -> FileInfo:
        """Upload ``size`` bytes of ``path``; see the module docstring for the contract."""
        run = _Run(url=session_url)
        if run.url is not None:
            status = self._query(run)
            if status is not None and status.status == "final":
                return self._finished(status.file, size)
        if run.url is None:
            self._new_session(run, size, mime_type, display_name, save_session)
        with open(path, "rb") as fh:
            while True:
                assert run.url is not None
                step = min(chunk_size(self.chunk_bytes, run.granularity), size - run.offset)
                if limit is not None:
                    step = streamable(run.offset, step, min(limit(), size - 1), run.granularity)
                    if step <= 0:
                        raise CaughtUp(run.offset)
                fh.seek(run.offset)
                data = fh.read(step)
                final = run.offset + len(data) >= size
                if len(data) < step:
                    raise FileTooShort(f"{path} is shorter than {size} bytes")
                try:
                    result = self.client.upload_chunk(run.url, run.offset, data, final)
                except SessionGone as exc:
                    self._restart(run, exc, size, mime_type, display_name, save_session)
                    continue
                except (GeminiTransient, GeminiPermanent) as exc:
                    if isinstance(exc, GeminiPermanent) and exc.code != "invalid_argument":
                        raise
                    before = run.offset
                    status = self._recover(run, exc, size, mime_type, display_name, save_session)
                    if status is not None and status.status == "final":
                        return self._finished(status.file, size)
                    if isinstance(exc, GeminiPermanent) and run.offset == before:
                        raise  # the server refused the chunk for a reason other than its offset
                    save_progress(run.offset)
                    continue
                if result.status == "final":
                    return self._finished(result.file, size)
                run.offset, run.failures = result.size_received, 0
                save_progress(run.offset)

    # ----- helpers ----------------------------------------------------------------------------------
    def _fail(self, run: _Run, exc: GeminiTransient | GeminiPermanent) -> None:
        """Count a failure; raise if the budget is spent or the server wants a long pause."""
        run.failures += 1
        if run.failures > self.max_retries:
            raise exc
        if isinstance(exc, GeminiTransient):
            delay = exc.retry_after
            if delay is None:
                delay = self.backoff_s[min(run.failures, len(self.backoff_s)) - 1]
            elif delay > self.max_inline_wait_s:
                raise exc
            log.info("gemini upload: %s; retrying in %.1fs (%d/%d)", exc, delay, run.failures, self.max_retries)
            self.sleep(delay)

    def _query(self, run: _Run) -> UploadStatus | None:
        """Query the session (absorbing transient failures); None and ``run.url`` cleared if it is gone."""
        assert run.url is not None
        while True:
            try:
                status = self.client.query(run.url)
            except SessionGone:
                run.url = None
                return None
            except GeminiTransient as exc:
                self._fail(run, exc)
                continue
            run.offset, run.granularity = status.size_received, status.granularity or run.granularity
            return status

    def _recover(self, run: _Run, exc: GeminiTransient | GeminiPermanent, size: int, mime_type: str,
                 display_name: str | None, save_session: Callable[[str], None]) -> UploadStatus | None:
        self._fail(run, exc)
        status = self._query(run)
        if run.url is None:
            self._restart(run, exc, size, mime_type, display_name, save_session)
        elif run.offset > size:
            raise GeminiPermanent("protocol", f"the server holds {run.offset} bytes of a {size}-byte file")
        return status

    def _restart(self, run: _Run, exc: Exception, size: int, mime_type: str, display_name: str | None,
                 save_session: Callable[[str], None]) -> None:
        run.restarts += 1
        if run.restarts > 1:
            raise SessionGone(f"upload session lost twice in one attempt: {exc}")
        log.info("gemini upload: session gone (%s); starting a new one", exc)
        self._new_session(run, size, mime_type, display_name, save_session)

    def _new_session(self, run: _Run, size: int, mime_type: str, display_name: str | None,
                     save_session: Callable[[str], None]) -> None:
        while True:
            try:
                session = self.client.start(size, mime_type, display_name)
                break
            except GeminiTransient as exc:
                self._fail(run, exc)
        save_session(session.url)
        run.url, run.granularity, run.offset = session.url, session.granularity, 0

    @staticmethod
    def _finished(file: FileInfo | None, size: int) -> FileInfo:
        if file is None:
            raise GeminiPermanent("protocol", "the upload is final but the server did not return the file")
        if file.size_bytes is not None and file.size_bytes != size:
            raise GeminiPermanent("size_mismatch", f"{file.name} has {file.size_bytes} bytes, expected {size}")
        return file
