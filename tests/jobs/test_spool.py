"""The one Spool type (file names, listing, removal) and fail_spooling, the one way a SPOOLING upload is
given up on (the front door's resumable expiry and dead-door takeover, the sweeper's expiry and interruption)."""

from __future__ import annotations

from pathlib import Path

import redis

from focalpoint_upload.jobs import ErrorCode, Event, Job, RedisJobStore, State, new_job_id
from focalpoint_upload.jobs.spool import Spool, fail_spooling
from tests.conftest import FakeClock


def test_names_listing_and_removal(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    assert list(spool.entries()) == []  # no directory yet: nothing, no error
    spool.directory.mkdir()
    done, arriving = new_job_id(), new_job_id()
    assert spool.file(done) == spool.directory / done
    assert Spool.part(spool.file(arriving)) == spool.directory / f"{arriving}.part"
    for path in (spool.file(done), Spool.part(spool.file(arriving)), spool.directory / "notes.txt"):
        path.write_bytes(b"x")
    (spool.directory / f"{new_job_id()}.part").mkdir()  # not a file: not an entry
    entries = {(e.job_id, e.partial) for e in spool.entries()}
    assert entries == {(done, False), (arriving, True)}
    Spool.part(spool.file(done)).write_bytes(b"x")
    assert Spool.remove(spool.file(done)) == 2  # the file and its .part
    assert Spool.remove(spool.file(done)) == 0 and Spool.remove(None) == 0  # idempotent
    assert Spool.remove_part(spool.file(arriving)) == 1 and Spool.remove_part(spool.file(arriving)) == 0


def _spooling(store: RedisJobStore, clock: FakeClock, spool: Spool) -> Job:
    job_id = new_job_id()
    job = Job(job_id=job_id, attempt_id=f"attempt-{job_id}", state=State.SPOOLING, created_at=clock(),
              updated_at=clock(), spool_path=str(spool.file(job_id)), resumable=True)
    assert store.claim(job) is None
    return job


def test_fail_spooling_fails_the_job_with_the_codes_fields_and_removes_its_files(
        tmp_path: Path, redis_client: redis.Redis, namespace: str, clock: FakeClock) -> None:
    store, spool = RedisJobStore(redis_client, namespace, clock, final_ttl_s=3600), Spool(tmp_path)
    job = _spooling(store, clock, spool)
    Spool.part(job.spool_path or "").write_bytes(b"half")
    failed = fail_spooling(store, job, ErrorCode.UPLOAD_EXPIRED)
    assert failed is not None and failed.state is State.FAILED and failed.ingest_failed
    assert (failed.error_code, failed.error_retryable) == ("upload_expired", True)
    assert failed.error_message == "The upload made no progress for too long and expired."
    assert list(spool.entries()) == []


def test_fail_spooling_loses_a_race_quietly_and_keeps_a_file_completed_meanwhile(
        tmp_path: Path, redis_client: redis.Redis, namespace: str, clock: FakeClock) -> None:
    store, spool = RedisJobStore(redis_client, namespace, clock, final_ttl_s=3600), Spool(tmp_path)
    job = _spooling(store, clock, spool)
    store.transition(job.job_id, Event.SPOOL_COMPLETE, expect=State.SPOOLING)  # another request completed it
    Path(job.spool_path or "").write_bytes(b"whole")
    Spool.part(job.spool_path or "").write_bytes(b"stray")
    assert fail_spooling(store, job, ErrorCode.INGEST_INTERRUPTED) is None
    assert store.get(job.job_id).state is State.SPOOLED  # type: ignore[union-attr]
    assert Path(job.spool_path or "").read_bytes() == b"whole"
    assert not Spool.part(job.spool_path or "").exists()
