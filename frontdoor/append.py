"""One append to a resumable upload: this request's bytes at the durable offset, under the upload's lease.

Life of an :class:`Append` (made by ``UploadCore.open_append``, which took the lease and checked the offset):

- ``write(chunk)`` for each piece of the body: spooled with backpressure; refused past the upload's length or
  the largest append, and never once the lease is gone (:class:`LeaseLost`).
- ``keep()`` about once a second: renews the lease, and records the offset written so far (not when the
  request carries a checksum: those bytes may yet be thrown away). False: another request asked for the
  upload, or it was cancelled: stop reading, then ``end(cut=True)``.
- ``end(cut=...)`` exactly once, also after a cut: write out and record what arrived (a checksummed request's
  bytes only if complete and matching, else none), complete the upload if it reached its length, release.

Offsets are compare-and-set in the job record: an append records only over the offset it started from (or
its own last record), so a request that lost the upload to a newer one can never move the offset.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from focalpoint_upload.frontdoor.appendfile import AppendWriter, LeaseLost
from focalpoint_upload.frontdoor.errors import (
    ApiError,
    append_too_large,
    bad_request,
    checksum_mismatch,
    exceeds_length,
    insufficient_storage,
    upload_gone,
    upload_locked,
)
from focalpoint_upload.frontdoor.locker import Hold
from focalpoint_upload.frontdoor.spool import remove_spool
from focalpoint_upload.frontdoor.stream import start_stream
from focalpoint_upload.jobs import Event, IllegalTransition, Job, JobNotFound, StaleJob, State

if TYPE_CHECKING:
    from focalpoint_upload.frontdoor.core import UploadCore

log = logging.getLogger("focalpoint.frontdoor")
ALGORITHMS = ("sha1", "sha256", "md5")


@dataclass(frozen=True)
class Checksum:
    """The checksum a request declares for its own body (tus ``Upload-Checksum``)."""

    algorithm: str
    digest: bytes

    @classmethod
    def parse(cls, header: str) -> Checksum:
        algorithm, _, encoded = header.strip().partition(" ")
        algorithm = algorithm.lower()
        if algorithm not in ALGORITHMS:
            raise bad_request("unsupported_checksum", f"Checksum algorithm {algorithm!r} is not supported; use "
                                                      f"one of {', '.join(ALGORITHMS)}.")
        try:
            digest = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            raise bad_request("bad_checksum", "Upload-Checksum must be '<algorithm> <base64 digest>'.") from None
        return cls(algorithm, digest)

    def hasher(self) -> Any:
        return hashlib.new(self.algorithm)

    def matches(self, hasher: Any) -> bool:
        return hmac.compare_digest(hasher.digest(), self.digest)


@dataclass(frozen=True)
class Ended:
    offset: int  # the durable offset after this request
    job: Job
    error: ApiError | None = None

    @property
    def complete(self) -> bool:
        return self.error is None and self.offset >= (self.job.bytes_total or 0)


async def _nothing() -> None:
    return None


class _Moved(Exception):
    """The record moved under us (cancelled, expired, or another request recorded): stop, record nothing."""


class Append:
    def __init__(self, core: UploadCore, job: Job, hold: Hold, writer: AppendWriter, checksum: Checksum | None):
        self.core, self.job, self.hold, self.writer, self.checksum = core, job, hold, writer, checksum
        self.recorded = writer.start
        self.total = job.bytes_total or 0
        self.ended = False

    @property
    def received(self) -> int:
        return self.writer.size - self.writer.start

    def write(self, chunk: bytes) -> Awaitable[None] | None:
        """Spool ``chunk``; an awaitable means wait before reading more. Raises ApiError or LeaseLost."""
        if self.ended or not self.hold.valid():
            raise LeaseLost()
        if self.writer.size + len(chunk) > self.total:
            raise exceeds_length(self.total)
        if self.received + len(chunk) > self.core.fd.settings.max_append_bytes:
            raise append_too_large(self.core.fd.settings.max_append_bytes)
        return self.writer.write(chunk)

    async def keep(self) -> bool:
        if self.ended:
            return False
        if not await self.hold.keep():
            return False
        written = self.writer.written
        if self.checksum is None and written > self.recorded:
            try:
                await self._record(written)
            except _Moved:
                return False
        return True

    async def end(self, *, cut: bool, refused: ApiError | None = None) -> Ended:
        """Finish this request (see the module docstring); ``refused``: throw its bytes away, answer that."""
        assert not self.ended, "end() once"
        self.ended = True
        w, error = self.writer, refused
        try:
            if not self.hold.valid():
                raise LeaseLost()
            if refused is not None or (cut and self.checksum is not None):
                await w.rollback()
            elif self.checksum is not None:
                await w.checkpoint()
                if not self.checksum.matches(w.piece):
                    await w.rollback()
                    error = checksum_mismatch(self.checksum.algorithm)
            if error is None and w.size >= self.total:
                return await self._complete()
            size = await w.checkpoint()
            # The offset record (one round trip: the job is known) and closing the file overlap.
            for outcome in await asyncio.gather(self._record(size) if size != self.recorded else _nothing(),
                                                w.close(), return_exceptions=True):
                if isinstance(outcome, BaseException):
                    raise outcome  # both have finished: the handlers below see a closed file
            self.core.hashes.put(self.job.job_id, size, w.whole)
            return Ended(size, self.job, error)
        except LeaseLost:
            await w.close()
            return Ended(self.recorded, self.job, upload_locked())
        except _Moved:
            await w.close()
            return Ended(self.recorded, self.job, upload_gone("upload_gone", "The upload was cancelled or "
                                                                             "expired while this request ran."))
        except OSError as exc:
            await w.close()
            return Ended(self.recorded, self.job, insufficient_storage(f"Writing the spool file failed: "
                                                                       f"{exc.strerror}"))
        finally:
            await self.hold.release()

    async def _record(self, offset: int) -> None:
        fd, expected = self.core.fd, self.recorded

        def change(job: Job) -> Job:
            if job.state is not State.SPOOLING or job.bytes_received != expected:
                raise _Moved()
            return job.with_(bytes_received=offset, last_byte_at=fd.clock())

        try:
            self.job = await fd.store.modify(self.job.job_id, change, known=self.job)
        except (StaleJob, JobNotFound, IllegalTransition):
            raise _Moved() from None
        self.recorded = offset
        self.job = await start_stream(fd, self.job)  # stream-through: the first durable bytes go on to Gemini

    async def _complete(self) -> Ended:
        fd = self.core.fd
        if not self.hold.valid():
            raise LeaseLost()
        result = await self.writer.finish()
        try:
            job = await fd.store.transition(self.job.job_id, Event.SPOOL_COMPLETE, expect=State.SPOOLING,
                                            known=self.job, bytes_received=result.size, bytes_total=result.size,
                                            sha256=result.sha256, spool_path=str(result.path),
                                            last_byte_at=fd.clock())
        except (StaleJob, IllegalTransition, JobNotFound):
            await fd.call(remove_spool, result.path)  # cancelled or expired meanwhile: the bytes are not wanted
            raise _Moved() from None
        self.core.hashes.drop(job.job_id)
        try:
            await fd.dispatch(fd.dispatcher.job_spooled, job.job_id, job.msg_gen)
        except Exception:  # the job is safe on disk and in the store; the sweeper will send it again
            log.exception("dispatch_failed", extra={"fields": {"jobId": job.job_id}})
        return Ended(result.size, job)
