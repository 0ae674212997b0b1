"""The append writer on real files, without sockets or Redis: offsets, hash continuity, rollback, the lease gate."""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from focalpoint_upload.frontdoor.appendfile import AppendWriter, HashStates, LeaseLost, durable_size, hash_prefix
from tests.tus import aio

MiB = 1024 * 1024


def test_appends_across_requests_hash_the_whole_file_and_rollback_drops_one_request(tmp_path: Path) -> None:
    data = bytes(range(256)) * (3 * MiB // 256) + b"tail"
    states = HashStates()

    async def scenario() -> None:
        with ThreadPoolExecutor(4) as ex:
            first = AppendWriter(tmp_path, "job1", ex, 0, hashlib.sha256(), None, lambda: True)
            await first.open()
            for i in range(0, 2 * MiB, 100_000):
                pending = first.write(data[i:min(i + 100_000, 2 * MiB)])
                if pending is not None:
                    await pending
            assert await first.checkpoint() == 2 * MiB and first.written == 2 * MiB
            await first.close()
            states.put("job1", 2 * MiB, first.whole)
            # A request whose checksum did not match: its bytes go, the whole-file hash goes back with them.
            bad = AppendWriter(tmp_path, "job1", ex, 2 * MiB, states.take("job1", 2 * MiB), hashlib.sha1(),
                               lambda: True)
            await bad.open()
            assert bad.write(b"garbage" * 1000) is None  # less than a batch: buffered
            await bad.rollback()
            assert bad.size == 2 * MiB
            states.put("job1", 2 * MiB, bad.whole)
            await bad.close()
            # On another front door there is no state: the prefix is re-hashed from the file.
            assert states.take("job1", MiB) is None
            whole = await asyncio.get_running_loop().run_in_executor(ex, hash_prefix, tmp_path / "job1.part",
                                                                     2 * MiB)
            last = AppendWriter(tmp_path, "job1", ex, 2 * MiB, whole, None, lambda: True)
            await last.open()
            pending = last.write(data[2 * MiB:])
            if pending is not None:
                await pending
            result = await last.finish()
            assert result.size == len(data) and result.sha256 == hashlib.sha256(data).hexdigest()
            assert (tmp_path / "job1").read_bytes() == data and not (tmp_path / "job1.part").exists()

    aio.run(scenario)


def test_a_writer_that_lost_its_lease_writes_nothing_and_a_new_one_cuts_what_a_dead_one_left(tmp_path: Path) -> None:
    held = [True]

    async def scenario() -> None:
        with ThreadPoolExecutor(2) as ex:
            w = AppendWriter(tmp_path, "job2", ex, 0, hashlib.sha256(), None, lambda: held[0])
            await w.open()
            held[0] = False
            pending = w.write(b"x" * MiB)  # a whole batch: handed to a thread, which refuses to write it
            assert pending is not None
            await pending
            with pytest.raises(LeaseLost):
                await w.checkpoint()
            await w.close()
            assert (tmp_path / "job2.part").stat().st_size == 0
            (tmp_path / "job2.part").write_bytes(b"y" * 500)  # a dead writer's bytes past the recorded offset
            assert durable_size(tmp_path / "job2.part", 100) == 100
            assert durable_size(tmp_path / "job2.part", 900) == 500  # the record said more than reached the file
            again = AppendWriter(tmp_path, "job2", ex, 100, hashlib.sha256(), None, lambda: True)
            await again.open()
            await again.close()
            assert (tmp_path / "job2.part").stat().st_size == 100

    aio.run(scenario)


def test_a_patch_starts_syncing_to_disk_while_its_body_still_arrives(tmp_path: Path) -> None:
    # Each PATCH has its own writer and its answer waits for all its bytes to be fdatasynced: the background
    # writeback must begin within the PATCH (every 8 MiB), not only once 32 MiB have gone out.
    async def scenario() -> None:
        with ThreadPoolExecutor(4) as ex:
            w = AppendWriter(tmp_path, "job3", ex, 0, hashlib.sha256(), None, lambda: True)
            await w.open()
            block = b"x" * MiB
            for _ in range(9):
                pending = w.write(block)
                if pending is not None:
                    await pending
            assert w._writeback is not None  # a sync of the first 8 MiB started during the body
            await w._writeback
            assert await w.checkpoint() == 9 * MiB
            await w.close()

    aio.run(scenario)


def test_each_append_drops_its_own_synced_pages_and_the_last_one_leaves_nothing_cached(tmp_path: Path) -> None:
    """An append writes from the upload's offset, not from 0: the pages it dropped must be its own. Before,
    each PATCH dropped the file's first bytes again, a 2 GiB upload stayed in the page cache, and dropping it
    all at completion added ~170 ms to the last PATCH's answer (bench/tus_ingest.py)."""
    from tests.frontdoor.test_spool_cache import resident_bytes

    block = bytes(range(256)) * 4096  # 1 MiB
    chunk = 20 * MiB

    async def append(ex: ThreadPoolExecutor, offset: int, whole: object, last: bool) -> Path:
        writer = AppendWriter(tmp_path, "job2", ex, offset, whole, None, lambda: True)
        await writer.open()
        for _ in range(chunk // MiB):
            pending = writer.write(block)
            if pending is not None:
                await pending
        if last:
            return (await writer.finish()).path
        assert await writer.checkpoint() == offset + chunk
        await writer.close()
        # Everything this request wrote is synced and gone from the cache (the earlier ones' too).
        assert resident_bytes(tmp_path / "job2.part") == 0
        states.put("job2", offset + chunk, writer.whole)
        return tmp_path / "job2.part"

    states = HashStates()

    async def scenario() -> None:
        with ThreadPoolExecutor(4) as ex:
            await append(ex, 0, hashlib.sha256(), False)
            await append(ex, chunk, states.take("job2", chunk), False)
            path = await append(ex, 2 * chunk, states.take("job2", 2 * chunk), True)
            assert path.stat().st_size == 3 * chunk and resident_bytes(path) == 0

    aio.run(scenario)
