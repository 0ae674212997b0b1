"""Spool files: stream bytes to ``<jobId>.part``, hash while writing, fsync and rename when complete.

Writes are batched (1 MiB) and handed to threads one batch at a time: the IOLoop keeps reading the next
batch while the previous one is hashed and written, and ``write`` returns an awaitable only when the previous
batch is still in flight. Tornado awaits that before reading on, which is backpressure that never reads
slower than the disk writes (field notes: a thread hop per 64 KiB chunk costs 70 % of the throughput, per
1 MiB little). Hashing and writing a batch run on two threads at once (both release the GIL), and every
``WRITEBACK_BYTES`` a background ``fdatasync`` pushes what was written to the disk, so the fsync before the
answer has only the tail left to flush instead of the whole file (bench: 0.9 s for 2 GiB without it).

Contract: exactly one of ``finish`` or ``abort`` ends a writer; after ``abort`` no file is left behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import os
import shutil
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from focalpoint_upload.jobs.spool import Spool

BATCH_BYTES = 1024 * 1024
# The fsync before the answer flushes about this much at most: with 32 MiB, a disk busy with other writers took up
# to 170 ms for it (bench/time_to_answer.py); the syncs in between run in the background, one at a time.
WRITEBACK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class SpoolResult:
    path: Path
    size: int
    sha256: str


class SpoolWriter:
    writeback_bytes = WRITEBACK_BYTES  # bytes written between background fdatasyncs

    def __init__(self, directory: Path, name: str, executor: Executor) -> None:
        self.final_path = Spool(directory).file(name)
        self.part_path = Spool.part(self.final_path)
        self._executor = executor
        self._fd: int | None = None
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._inflight: asyncio.Future[Any] | None = None
        self._writeback: asyncio.Future[None] | None = None
        self._unsynced = 0  # bytes written since the last writeback began
        self._written = 0  # bytes this writer wrote (by _write_batch), from file offset _base
        self._base = 0  # where this writer's first byte goes in the file (an append starts at the upload's offset)
        self._dropped = 0  # file offset up to which synced pages have been dropped from the page cache
        self._lock = threading.Lock()  # the fd is used from executor threads: write and discard never overlap
        self._aborted = False
        self.size = 0

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._fd = await loop.run_in_executor(self._executor, self._open)

    def _open(self) -> int:
        self.part_path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.part_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)

    def write(self, data: bytes | bytearray | memoryview) -> Awaitable[None] | None:
        """Queue ``data``; returns an awaitable when the caller must wait before sending more."""
        self.size += len(data)
        self._buffer += data
        if len(self._buffer) < BATCH_BYTES:
            return None
        return self._flush()

    async def _flush(self) -> None:
        if self._inflight is not None:
            fut, self._inflight = self._inflight, None
            await fut  # the previous batch: one batch in flight at most (the hash must see batches in order)
        if self._buffer and not self._aborted:
            batch, self._buffer = self._buffer, bytearray()
            loop = asyncio.get_running_loop()
            self._inflight = asyncio.gather(loop.run_in_executor(self._executor, self._hash.update, batch),
                                            loop.run_in_executor(self._executor, self._write_batch, batch))
            self._unsynced += len(batch)
            if self._unsynced >= self.writeback_bytes and (self._writeback is None or self._writeback.done()):
                self._unsynced = 0
                self._writeback = loop.run_in_executor(self._executor, self._sync_written)

    def _write_batch(self, batch: bytearray) -> None:
        view = memoryview(batch)
        with self._lock:
            if self._fd is None:
                return  # aborted meanwhile
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
                self._written += written

    def _sync_written(self) -> None:
        """fdatasync what is written so far, on a duplicate fd so writes (and a discard) need not wait; then drop
        those (now clean) pages from the page cache.

        Why drop them: a spool file is written once and read once, later, by a worker, at Gemini's pace. Kept in
        the cache, every upload takes fresh pages from a cache already full of older spool files, and writing
        gets slower exactly when files are kept longest (while Gemini processes): bench/time_to_answer.py saw
        the time in ``write`` go up 2.4x and the answer's p99 miss 100 ms. Dropped as we go, each upload reuses
        the pages the previous one gave back, whatever the retention. The worker reads the file from disk.
        """
        with self._lock:
            if self._fd is None:
                return
            fd = os.dup(self._fd)
            synced = self._base + self._written  # a file offset: an append writes from _base, not from 0
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, self._dropped, synced - self._dropped, os.POSIX_FADV_DONTNEED)
            self._dropped = max(self._dropped, synced)
        finally:
            os.close(fd)

    async def finish(self) -> SpoolResult:
        """Write what is left, fsync, rename ``.part`` to the final name and fsync the directory."""
        await self._flush()
        await self._flush()  # the batch started by the first flush
        if self._writeback is not None:
            await self._writeback
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._commit)
        return SpoolResult(self.final_path, self.size, self._hash.hexdigest())

    def _commit(self) -> None:
        assert self._fd is not None
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
            # The whole file is durable now: drop what the background writebacks had not dropped yet (under a
            # busy disk they fall behind: a CI run saw 35 MiB stay cached). Only from _dropped on: dropping
            # costs per cached page, and a whole 2 GiB file's worth added ~170 ms to a tus upload's last answer.
            os.posix_fadvise(fd, self._dropped, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        os.replace(self.part_path, self.final_path)
        release_memory()
        dir_fd = os.open(self.final_path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def abort(self) -> None:
        """Stop writing and delete the partial file. Safe to call more than once, and after a failed write."""
        self._aborted = True
        for fut in (self._inflight, self._writeback):
            if fut is not None:
                try:
                    await fut
                except OSError:
                    pass  # the write that failed is why we abort
        self._inflight = self._writeback = None
        self._buffer = bytearray()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._discard)

    def _discard(self) -> None:
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)
        self.part_path.unlink(missing_ok=True)
        release_memory()


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        return cast(Callable[[int], int], ctypes.CDLL("libc.so.6").malloc_trim)
    except (OSError, AttributeError):
        return None  # not glibc: nothing to trim


_malloc_trim: Callable[[int], int] | bool | None = False  # False: not looked up yet


def release_memory() -> None:
    """Give the batch buffers freed by finished uploads back to the OS (glibc ``malloc_trim``).

    Batches are allocated and freed by several executor threads; glibc keeps the freed memory in per-thread
    arenas, so after a burst of concurrent uploads the RSS stays at its peak. Trimming once per upload keeps
    the front door's footprint flat (bench/ingest_throughput). A no-op where libc is not glibc.
    """
    global _malloc_trim
    if _malloc_trim is False:
        _malloc_trim = _load_malloc_trim()
    if callable(_malloc_trim):
        _malloc_trim(0)


def free_bytes(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(directory).free


def spool_usage(directory: Path) -> int:
    """Bytes held by files in the spool directory (finished and partial)."""
    total = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue
    return total


def remove_spool(path: str | Path | None) -> None:
    """Delete a spool file and its ``.part`` twin if present (:meth:`Spool.remove`, named for the front door's
    call sites)."""
    Spool.remove(path)
