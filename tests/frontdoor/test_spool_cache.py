"""A spool file's pages leave the page cache as they are synced: each upload reuses the pages the previous one
gave back instead of taking fresh ones from a cache full of kept spool files (which slowed writing, and the
answer, while Gemini processed: bench/time_to_answer.py)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from focalpoint_upload.frontdoor.spool import WRITEBACK_BYTES, SpoolWriter
from tests.conftest import require
from tests.helpers.aio import run_coro

MiB = 1024 * 1024


def resident_bytes(path: Path) -> int:
    """Bytes of ``path`` in the page cache (util-linux's fincore)."""
    if shutil.which("fincore") is None:
        require("fincore (util-linux) is not installed")
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def test_synced_pages_are_dropped_and_the_file_is_whole(tmp_path: Path) -> None:
    size = 5 * WRITEBACK_BYTES + 3 * MiB + 17
    block = bytes(range(256)) * 4096  # 1 MiB

    async def spool() -> Path:
        with ThreadPoolExecutor(4) as executor:
            writer = SpoolWriter(tmp_path, "job1", executor)
            await writer.open()
            left = size
            while left:
                piece = block[: min(left, len(block))]
                left -= len(piece)
                pending = writer.write(piece)
                if pending is not None:
                    await pending
            result = await writer.finish()
            assert result.size == size
            return result.path

    path = run_coro(spool())
    assert path.stat().st_size == size
    # Once the file is durable none of it stays in the page cache, however far the background writebacks fell
    # behind (a busy disk in CI left 35 MiB when only they dropped pages). Reading it back below caches it again.
    assert resident_bytes(path) == 0
    digest = hashlib.sha256()
    with path.open("rb") as fh:  # and reading it back (as the worker does) gives every byte
        while chunk := fh.read(MiB):
            digest.update(chunk)
    expected = hashlib.sha256()
    for offset in range(0, size, MiB):
        expected.update(block[: min(MiB, size - offset)])
    assert digest.hexdigest() == expected.hexdigest()
