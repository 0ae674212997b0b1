"""Appending one request's bytes to a resumable upload's ``.part`` with the single-request spool code.

:class:`AppendWriter` is a :class:`frontdoor.spool.SpoolWriter` (same batching, backpressure, parallel hash and
write, background writeback) that opens an existing ``.part`` at the upload's durable offset instead of
creating a new one, and adds what a resumable upload needs between requests:

- ``checkpoint()``: every byte received so far written and fdatasynced; the file stays open for more.
- ``rollback()``: back to the offset this request started at (a checksum mismatch), hash state included.
- ``close()``: let go of the file without removing it (the next request carries on).
- ``finish()`` (inherited): the last bytes, fsync, rename to the final name, the sha256 of the whole file.

Writes happen only while ``may_write()`` (the request still holds the upload's lease): a request that lost
its lease never touches the file again, so two requests' bytes cannot interleave.

The sha256 of the whole upload is carried across requests as a live hash object (:class:`HashStates`); a
request landing on a front door without it (another process, a restart) re-hashes the prefix from the file
first, off the IOLoop, so the answer to the last PATCH has only its own tail to hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from focalpoint_upload.frontdoor.spool import SpoolWriter

READ_BYTES = 1024 * 1024


class LeaseLost(Exception):
    """The request no longer holds the upload's lease: it must not write another byte."""


class _Tee:
    """sha256 of the whole upload and, if asked for, the checksum of this request's bytes, fed in one pass."""

    def __init__(self, whole: Any, piece: Any | None) -> None:
        self.whole, self.piece = whole, piece

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.whole.update(data)
        if self.piece is not None:
            self.piece.update(data)

    def hexdigest(self) -> str:
        return str(self.whole.hexdigest())


class AppendWriter(SpoolWriter):
    # Every PATCH's answer waits until all its bytes are fdatasynced (``checkpoint``/``finish``), and each
    # PATCH has a writer of its own: with the single request's 32 MiB interval, a 32 MiB PATCH got its first
    # background sync only as its last batch went out, so its answer waited for all 32 MiB to reach the disk.
    # Every 8 MiB leaves at most ~8 MiB for the answer (bench/tus_ingest.py). Durability is unchanged.
    writeback_bytes = 8 * 1024 * 1024

    def __init__(self, directory: Path, name: str, executor: Executor, offset: int, whole: Any,
                 piece: Any | None, may_write: Callable[[], bool]) -> None:
        super().__init__(directory, name, executor)
        self.start = self.size = self.written = offset  # written: bytes that reached the file (not buffered)
        self._base = self._dropped = offset  # this request's bytes start here; earlier requests dropped theirs
        self._start_state = whole.copy()
        self._tee = _Tee(whole, piece)
        self._hash = self._tee  # type: ignore[assignment]  # duck-typed: the writer calls update and hexdigest
        self._may_write = may_write

    @property
    def whole(self) -> Any:
        return self._tee.whole

    @property
    def piece(self) -> Any | None:
        return self._tee.piece

    def _open(self) -> int:
        self.part_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.part_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.ftruncate(fd, self.start)  # whatever a dead writer left past the durable offset is not ours
        os.lseek(fd, self.start, os.SEEK_SET)
        return fd

    def _write_batch(self, batch: bytearray) -> None:
        if not self._may_write():
            raise LeaseLost()
        super()._write_batch(batch)
        self.written += len(batch)  # one batch in flight at a time: no other thread counts meanwhile

    async def checkpoint(self) -> int:
        """Write and fdatasync every byte received; returns the offset now on disk."""
        await self._flush()
        await self._flush()  # the batch the first flush started
        if self._writeback is not None:
            await self._writeback
        await asyncio.get_running_loop().run_in_executor(self._executor, self._sync_written)
        return self.size

    async def rollback(self) -> None:
        """Drop this request's bytes: truncate to where it started, restore the whole-file hash state."""
        await self.checkpoint()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._truncate)
        self.size = self.written = self.start
        self._tee.whole = self._start_state.copy()

    def _truncate(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.ftruncate(self._fd, self.start)
                os.lseek(self._fd, self.start, os.SEEK_SET)

    async def close(self) -> None:
        """Stop writing and close the file, keeping it (unwritten buffered bytes are dropped)."""
        self._aborted = True
        for fut in (self._inflight, self._writeback):
            if fut is not None:
                try:
                    await fut
                except (OSError, LeaseLost):
                    pass
        self._inflight = self._writeback = None
        self._buffer = bytearray()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_fd)

    def _close_fd(self) -> None:
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)


def durable_size(part: Path, recorded: int) -> int:
    """The offset a new request may start at: what the record says, unless the file holds less (a crash
    before the bytes reached the disk). Blocking."""
    try:
        return min(recorded, part.stat().st_size)
    except FileNotFoundError:
        return 0


def hash_prefix(part: Path, length: int) -> Any:
    """sha256 of the first ``length`` bytes of ``part``. Blocking (run it on the executor)."""
    h = hashlib.sha256()
    left = length
    with open(part, "rb", buffering=0) as f:
        while left > 0:
            block = f.read(min(READ_BYTES, left))
            if not block:
                raise OSError(f"{part} is shorter than {length} bytes")
            h.update(block)
            left -= len(block)
    return h


class HashStates:
    """Live sha256 states of uploads between their requests, by job id and offset (bounded, newest kept)."""

    def __init__(self, limit: int = 1024) -> None:
        self._states: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._limit = limit

    def take(self, job_id: str, offset: int) -> Any | None:
        """The state at ``offset`` if we have it (removed: one request uses it at a time)."""
        got = self._states.pop(job_id, None)
        return got[1] if got is not None and got[0] == offset else None

    def put(self, job_id: str, offset: int, state: Any) -> None:
        self._states[job_id] = (offset, state.copy())
        self._states.move_to_end(job_id)
        while len(self._states) > self._limit:
            self._states.popitem(last=False)

    def drop(self, job_id: str) -> None:
        self._states.pop(job_id, None)
