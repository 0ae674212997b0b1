"""The sweeper on Redis and on the in-memory twins (``backend``) with a real spool directory; the clock is
moved by hand."""

from __future__ import annotations

import os
import time
from pathlib import Path

from focalpoint_upload.actors.sweeper import Sweeper
from focalpoint_upload.jobs import Event, Job, JobStore, State, new_job_id
from tests.conftest import Backend, FakeClock
from tests.helpers.service import service_settings


class Sends:
    """Records the sweeper's re-sends (the message edge; the leg itself is tested end to end)."""

    def __init__(self) -> None:
        self.jobs: list[str] = []

    def __call__(self, job_id: str) -> bool:
        self.jobs.append(job_id)
        return True


def setup(tmp_path: Path, backend: Backend, clock: FakeClock):  # type: ignore[no-untyped-def]
    settings = service_settings(tmp_path, None, backend.namespace or "memory", ingest_idle_timeout_s=60.0,
                                spool_retention_failed_s=3600.0, job_deadline_s=6 * 3600.0)
    settings.spool_dir.mkdir(parents=True)
    store = backend.store()
    leases = backend.leases(30)
    sends = Sends()
    return settings, store, leases, sends, Sweeper(settings, store, leases, sends, clock)


def make_job(store: JobStore, clock: FakeClock, spool: Path, *events: Event) -> Job:
    job_id = new_job_id()
    job = Job(job_id=job_id, attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
              updated_at=clock(), spool_path=str(spool / job_id))
    store.claim(job)
    for event in events:
        job = store.transition(job_id, event)
    return job


def test_a_spooling_job_whose_front_door_died_fails_and_its_part_file_goes(
        tmp_path: Path, backend: Backend, clock: FakeClock) -> None:
    settings, store, _, _, sweeper = setup(tmp_path, backend, clock)
    job = make_job(store, clock, settings.spool_dir)
    part = Path(f"{job.spool_path}.part")
    part.write_bytes(b"half")
    clock.advance(60)
    assert sweeper.sweep().interrupted == 0  # still within the idle timeout: could be alive
    clock.advance(31)
    report = sweeper.sweep()
    assert report.interrupted == 1
    failed = store.get(job.job_id)
    assert failed.state is State.FAILED and failed.error_code == "ingest_interrupted"
    assert not part.exists()
    assert store.find_by_attempt(job.attempt_id).ingest_failed  # the client may send the attempt again


def test_jobs_without_progress_get_a_new_message_unless_a_run_holds_them(
        tmp_path: Path, backend: Backend, clock: FakeClock) -> None:
    settings, store, leases, sends, sweeper = setup(tmp_path, backend, clock)
    spooled = make_job(store, clock, settings.spool_dir, Event.SPOOL_COMPLETE)
    uploading = make_job(store, clock, settings.spool_dir, Event.SPOOL_COMPLETE, Event.UPLOAD_STARTED)
    leased = make_job(store, clock, settings.spool_dir, Event.SPOOL_COMPLETE, Event.UPLOAD_STARTED)
    processing = make_job(store, clock, settings.spool_dir, Event.SPOOL_COMPLETE, Event.UPLOAD_STARTED,
                          Event.UPLOAD_FINISHED)
    assert sweeper.sweep().resent == {}
    clock.advance(settings.stale_after_s + 1)
    assert leases.acquire(leased.job_id)  # a live run holds it now (a lease lapses a ttl after its renewal)
    report = sweeper.sweep()
    assert sorted(sends.jobs) == sorted([spooled.job_id, uploading.job_id, processing.job_id])
    assert report.resent == {"SPOOLED": 1, "UPLOADING": 1, "PROCESSING": 1}


def test_recovery_at_start_up_does_not_wait(
        tmp_path: Path, backend: Backend, clock: FakeClock) -> None:
    settings, store, _, sends, sweeper = setup(tmp_path, backend, clock)
    spooling = make_job(store, clock, settings.spool_dir)
    spooled = make_job(store, clock, settings.spool_dir, Event.SPOOL_COMPLETE)
    report = sweeper.sweep(recovering=True)
    assert report.interrupted == 1 and store.get(spooling.job_id).state is State.FAILED
    assert sends.jobs == [spooled.job_id]


def test_a_job_past_its_deadline_fails(
        tmp_path: Path, backend: Backend, clock: FakeClock) -> None:
    settings, store, _, _, sweeper = setup(tmp_path, backend, clock)
    job = make_job(store, clock, settings.spool_dir, Event.SPOOL_COMPLETE, Event.UPLOAD_STARTED)
    clock.advance(6 * 3600 + 1)
    assert sweeper.sweep().deadline_failed == 1
    assert store.get(job.job_id).error_code == "deadline_exceeded"


def test_spool_files_follow_their_jobs_retention_and_orphans_go(tmp_path: Path, backend: Backend) -> None:
    clock = backend.clock
    clock.now = time.time()  # orphan detection compares file mtimes with the clock
    settings, store, _, _, sweeper = setup(tmp_path, backend, clock)
    spool = settings.spool_dir
    active = make_job(store, clock, spool, Event.SPOOL_COMPLETE, Event.UPLOAD_STARTED, Event.UPLOAD_FINISHED,
                      Event.FILE_ACTIVE)
    failed = make_job(store, clock, spool, Event.SPOOL_COMPLETE, Event.FAIL)
    waiting = make_job(store, clock, spool, Event.SPOOL_COMPLETE)
    for job in (active, failed, waiting):
        Path(job.spool_path).write_bytes(b"x")
    orphan = spool / new_job_id()
    orphan.write_bytes(b"nobody's")
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    stray_part = spool / f"{active.job_id}.part"
    stray_part.write_bytes(b"left over")
    unrelated = spool / "README.txt"
    unrelated.write_text("not ours to judge")
    report = sweeper.sweep()
    assert not Path(active.spool_path).exists()  # retention after ACTIVE is 0 by default
    assert Path(failed.spool_path).exists()  # kept for a retry for FOCALPOINT_SPOOL_RETENTION_FAILED
    assert Path(waiting.spool_path).exists()
    assert not orphan.exists() and not stray_part.exists()
    assert unrelated.exists()
    assert (report.spool_removed, report.orphans_removed) == (1, 2)
    clock.advance(3601)
    sweeper.sweep()
    assert not Path(failed.spool_path).exists()


def test_a_message_due_later_is_not_late_until_its_due_time_has_passed(
        tmp_path: Path, backend: Backend, clock: FakeClock) -> None:
    settings, store, _, sends, sweeper = setup(tmp_path, backend, clock)
    job = make_job(store, clock, settings.spool_dir, Event.SPOOL_COMPLETE, Event.UPLOAD_STARTED,
                   Event.UPLOAD_FINISHED)
    store.update(job.job_id, expect=State.PROCESSING, due_at=clock() + 300)  # a poll delayed by 5 minutes
    clock.advance(settings.stale_after_s + 1)
    sweeper.sweep()
    assert sends.jobs == []
    clock.advance(300)
    sweeper.sweep()
    assert sends.jobs == [job.job_id]


def test_a_resumable_upload_waits_for_its_client_then_expires(
        tmp_path: Path, backend: Backend, clock: FakeClock) -> None:
    settings, store, _, _, sweeper = setup(tmp_path, backend, clock)
    settings = settings.replace(upload_expiry_s=24 * 3600.0)
    sweeper.settings = settings
    job_id = new_job_id()
    store.claim(Job(job_id=job_id, attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
                    updated_at=clock(), spool_path=str(settings.spool_dir / job_id), resumable=True, bytes_total=10))
    part = Path(f"{settings.spool_dir / job_id}.part")
    part.write_bytes(b"half")
    clock.advance(7 * 3600)  # past the ingest idle timeout and the job deadline: a resumable upload still waits
    assert sweeper.sweep(recovering=True).interrupted == 0
    assert store.get(job_id).state == State.SPOOLING and part.exists()  # type: ignore[union-attr]
    clock.advance(17 * 3600 + 1)
    assert sweeper.sweep().interrupted == 1
    expired = store.get(job_id)
    assert expired is not None and expired.state == State.FAILED and expired.error_code == "upload_expired"
    assert not part.exists()


def test_an_expired_streamed_upload_has_its_gemini_session_released(
        tmp_path: Path, backend: Backend, clock: FakeClock) -> None:
    settings, store, leases, sends, _ = setup(tmp_path, backend, clock)
    released: list[str] = []
    sweeper = Sweeper(settings.replace(upload_expiry_s=3600.0), store, leases, sends, clock,
                      release_session=released.append)
    job_id = new_job_id()
    store.claim(Job(job_id=job_id, attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
                    updated_at=clock(), spool_path=str(settings.spool_dir / job_id), resumable=True, bytes_total=10,
                    streaming=True, gemini_upload_url="https://upload.invalid/s"))
    clock.advance(3000)
    store.update(job_id, expect=State.SPOOLING, bytes_uploaded=4)  # the stream's write: no sign of the client
    clock.advance(601)
    assert sweeper.sweep().interrupted == 1 and released == [job_id]
    assert store.get(job_id).error_code == "upload_expired"  # type: ignore[union-attr]

