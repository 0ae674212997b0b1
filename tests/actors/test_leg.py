"""The Gemini leg (``actors.leg`` and its helpers) on in-memory twins: no Redis, no HTTP, a clock moved by hand.

Each test drives the real leg through its messages (``LegKit.run``) and checks where the job ends, what Gemini
holds, what the storage budget counts and what was alerted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from focalpoint_upload.actors.ports import RemoteFile
from focalpoint_upload.actors.reupload import MAX_REUPLOADS
from focalpoint_upload.actors.storage import WAITING_FOR_STORAGE
from focalpoint_upload.gemini.errors import GeminiPermanent, GeminiTransient
from focalpoint_upload.jobs import ErrorCode, Event, Job, State
from tests.actors.legkit import LegKit, no_redis

pytestmark = pytest.mark.usefixtures("no_redis")
__all__ = ["no_redis"]


def test_a_spooled_job_is_uploaded_verified_and_active(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    job = kit.spooled(size=10)
    assert [m.kind for m in kit.run()] == ["upload"]
    done = kit.job(job.job_id)
    assert done.state is State.ACTIVE and done.sha256_verified is True
    assert done.bytes_uploaded == 10 and done.gemini_upload_url is None and done.attempts == 0
    assert list(kit.gemini.files) == [done.gemini_file_name]
    assert kit.budget.held() == {job.job_id: 10}  # counted as long as the file lives
    assert kit.budget.expires_at(job.job_id) is not None
    assert not Path(job.spool_path or "").exists()  # FOCALPOINT_SPOOL_RETENTION_ACTIVE is 0 by default
    assert kit.slots.in_use() == 0 and not kit.leases.held(job.job_id)
    assert kit.alerts.failed == []
    assert done.public()["sha256Verified"] is True and done.public()["waiting"] is None


def test_a_file_still_processing_is_polled_until_active(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    kit.gemini.new_file_state = "PROCESSING"
    job = kit.spooled()
    kit.step()
    assert kit.job(job.job_id).state is State.PROCESSING
    kit.step()
    kit.step()  # two polls: still processing, the delay grows
    waits = [m.delay_s for m in kit.scheduler.sent]
    assert [m.kind for m in kit.ran] == ["upload", "poll", "poll"] and waits == [4.0 * 0.8]
    kit.gemini.set_state(kit.job(job.job_id).gemini_file_name or "", "ACTIVE")
    kit.run()
    assert kit.job(job.job_id).state is State.ACTIVE


def test_a_file_gemini_fails_to_process_fails_the_job_and_is_deleted(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    kit.gemini.new_file_state = "PROCESSING"
    job = kit.spooled()
    kit.step()
    name = kit.job(job.job_id).gemini_file_name or ""
    kit.gemini.set_state(name, "FAILED", "unsupported codec")
    kit.run()
    failed = kit.job(job.job_id)
    assert failed.state is State.FAILED and failed.error_code == "gemini_processing_failed"
    assert "unsupported codec" not in (failed.error_message or "")  # Gemini's text goes to the log only
    assert kit.gemini.files == {} and kit.budget.held() == {}
    assert [a.code for a in kit.alerts.failed] == ["gemini_processing_failed"]


def test_a_transient_failure_retries_later_and_progress_resets_the_budget(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    kit.gemini.upload_faults = [(1, GeminiTransient("503", retry_after=7.0))]  # one chunk, then a 503
    job = kit.spooled(size=10)
    kit.step()
    waiting = kit.job(job.job_id)
    assert waiting.state is State.UPLOADING and waiting.bytes_uploaded == 4 and waiting.last_error
    assert waiting.public()["retrying"] == {"attempts": 0, "lastError": waiting.last_error}
    [again] = kit.scheduler.sent
    assert again.kind == "upload" and again.delay_s == 7.0  # never sooner than Gemini asked
    kit.run()
    done = kit.job(job.job_id)
    assert done.state is State.ACTIVE and done.attempts == 0 and done.last_error is None
    assert kit.gemini.chunks_sent == 3  # resumed at the kept offset: no byte sent twice


def test_transient_failures_without_progress_spend_the_budget_then_fail_retryable(tmp_path: Path) -> None:
    kit = LegKit(tmp_path, gemini_retry_budget=3)
    kit.gemini.upload_faults = [(0, GeminiTransient("503"))] * 10
    job = kit.spooled()
    runs = kit.run()
    failed = kit.job(job.job_id)
    assert len(runs) == 4  # the budget, then the run that finds it spent
    assert failed.state is State.FAILED and failed.error_code == "gemini_unavailable"
    assert failed.error_retryable is True and "3 tries" in (failed.error_message or "")
    assert [a.code for a in kit.alerts.failed] == ["gemini_unavailable"]
    assert kit.budget.held() == {}  # FAILED gives the bytes back in the same change


def test_a_permanent_failure_fails_at_once(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    kit.gemini.upload_faults = [(0, GeminiPermanent("too_large", "file exceeds 2 GB", 413))]
    job = kit.spooled()
    assert len(kit.run()) == 1
    failed = kit.job(job.job_id)
    assert (failed.state, failed.error_code, failed.error_retryable) == (State.FAILED, "too_large", False)
    assert "2 GB" not in (failed.error_message or "")
    assert kit.budget.held() == {} and len(kit.alerts.failed) == 1


def test_cancel_mid_upload_stops_the_run_and_cleans_up(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    job = kit.spooled(size=12)

    def cancel_after_first_chunk(offset: int) -> None:
        if offset == 4:
            kit.store.transition(job.job_id, Event.CANCEL)  # DELETE /api/upload/{id} while bytes flow

    kit.gemini.on_chunk = cancel_after_first_chunk
    assert len(kit.run()) == 1
    cancelled = kit.job(job.job_id)
    assert cancelled.state is State.CANCELLED
    assert kit.gemini.chunks_sent == 1  # the next progress save found the job gone and stopped the upload
    [session] = kit.gemini.sessions.values()
    assert session.cancelled and kit.gemini.files == {}
    assert not Path(job.spool_path or "").exists() and kit.budget.held() == {}
    kit.leg.cancel(job.job_id)  # the cancel actor's message arrives too: nothing more to do, nothing fails
    assert kit.alerts.failed == [] and kit.scheduler.sent == []


def test_an_integrity_mismatch_once_uploads_again_and_verifies(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    kit.gemini.corrupt_next = 1
    job = kit.spooled(size=10)
    kinds = [m.kind for m in kit.run()]
    done = kit.job(job.job_id)
    assert kinds == ["upload", "upload"]
    assert done.state is State.ACTIVE and done.sha256_verified is True and done.integrity_retries == 1
    assert len(kit.gemini.deleted) == 1 and list(kit.gemini.files) == [done.gemini_file_name]
    assert done.attempts == 0 and kit.budget.held() == {job.job_id: 10}


def test_an_integrity_mismatch_twice_fails_and_leaves_no_gemini_file(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    kit.gemini.corrupt_next = MAX_REUPLOADS + 1
    job = kit.spooled()
    files_when_failed: list[dict[str, Any]] = []
    transition = kit.store.transition

    def watch(job_id: str, event: Event, **kw: Any) -> Job:
        if event is Event.FAIL:
            files_when_failed.append(dict(kit.gemini.files))
        return transition(job_id, event, **kw)

    kit.store.transition = watch  # type: ignore[method-assign]
    kit.run()
    failed = kit.job(job.job_id)
    assert failed.state is State.FAILED and failed.error_code == ErrorCode.INTEGRITY_MISMATCH and failed.error_retryable
    assert kit.gemini.files == {} and len(kit.gemini.deleted) == 2
    assert files_when_failed == [{}]  # the file was gone before any client could see FAILED
    assert kit.budget.held() == {}


def test_a_mismatched_file_whose_delete_failed_is_deleted_by_the_next_poll(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    kit.gemini.corrupt_next = 1
    kit.gemini.delete_faults = [GeminiTransient("503")]
    job = kit.spooled()
    kit.step()
    marked = kit.job(job.job_id)
    assert marked.state is State.PROCESSING and marked.discard_file  # the file must go before a new upload
    kit.run()
    assert kit.job(job.job_id).state is State.ACTIVE and len(kit.gemini.files) == 1


def test_a_job_waits_for_storage_then_goes_when_space_frees(tmp_path: Path) -> None:
    kit = LegKit(tmp_path, budget=15)
    first = kit.spooled(size=10)
    kit.run()
    assert kit.job(first.job_id).state is State.ACTIVE
    second = kit.spooled(size=10)
    kit.step()
    waiting = kit.job(second.job_id)
    assert waiting.state is State.SPOOLED and waiting.waiting == WAITING_FOR_STORAGE
    assert waiting.public()["waiting"] == "gemini_storage" and waiting.public()["state"] == "SPOOLED"
    [recheck] = kit.scheduler.sent
    assert recheck.kind == "upload" and recheck.delay_s == kit.leg.storage_recheck_s[0]
    kit.step()
    kit.step()  # still full: it keeps waiting, never failed for it, no thread held
    assert kit.job(second.job_id).waiting == WAITING_FOR_STORAGE and kit.slots.taken == 1
    kit.store.transition(first.job_id, Event.DELETE, deleted_at=kit.clock())
    kit.leg.cancel(first.job_id)  # the DELETE's message: the file goes, then its bytes
    assert kit.budget.held() == {}
    kit.run()
    done = kit.job(second.job_id)
    assert done.state is State.ACTIVE and done.waiting is None and done.waiting_since is None
    assert done.waited_s == 3 * kit.leg.storage_recheck_s[0]  # left out of the job deadline


def test_a_job_that_waits_for_storage_too_long_fails_retryable(tmp_path: Path) -> None:
    kit = LegKit(tmp_path, budget=15, gemini_storage_wait_s=60.0)
    kit.spooled(size=10)
    kit.run()
    job = kit.spooled(size=10)
    kit.run()
    failed = kit.job(job.job_id)
    assert failed.state is State.FAILED and failed.error_retryable
    assert failed.error_code == ErrorCode.GEMINI_STORAGE_TIMEOUT
    assert kit.clock() - (job.updated_at) > 60


def test_an_upload_pauses_after_its_slice_and_resumes_in_the_next_message(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    job = kit.spooled(size=12)

    def slow(offset: int) -> None:
        kit.now_mono += 40  # each chunk takes 40 s: the 60 s slice ends after the second
    kit.gemini.on_chunk = slow
    kit.step()
    paused = kit.job(job.job_id)
    assert paused.state is State.UPLOADING and paused.bytes_uploaded == 8
    assert [m.kind for m in kit.scheduler.sent] == ["upload"] and kit.slots.in_use() == 0
    kit.run()
    assert kit.job(job.job_id).state is State.ACTIVE and len(kit.gemini.sessions) == 1


def test_a_run_without_a_slot_comes_back_later(tmp_path: Path) -> None:
    kit = LegKit(tmp_path, slots=0)
    job = kit.spooled()
    kit.step()
    assert kit.job(job.job_id).state is State.UPLOADING
    [later] = kit.scheduler.sent
    assert later.kind == "upload" and later.delay_s >= 2.0 and kit.gemini.chunks_sent == 0


def test_a_run_whose_lease_is_taken_over_stops_quietly(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    job = kit.spooled(size=12)
    kit.gemini.on_chunk = lambda offset: kit.leases.take_over(job.job_id) if offset == 4 else None
    kit.step()
    assert kit.scheduler.sent == []  # the run that took over keeps the chain going
    assert kit.job(job.job_id).state is State.UPLOADING and kit.gemini.chunks_sent == 1


def test_a_stale_or_repeated_message_does_nothing(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    job = kit.spooled()
    kit.scheduler.upload(job.job_id, job.msg_gen)  # the same message delivered twice
    kit.run()
    done = kit.job(job.job_id)
    assert done.state is State.ACTIVE and len(kit.gemini.files) == 1 and kit.gemini.chunks_sent == 3
    kit.leg.upload(job.job_id, gen=0)  # an old generation after the end
    kit.leg.poll(job.job_id, gen=done.msg_gen)
    assert kit.job(job.job_id) == done


def test_a_spool_gone_or_shorter_than_the_job_says_fails_permanently(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    gone, short = kit.spooled(), kit.spooled(size=10)
    Path(gone.spool_path or "").unlink()
    Path(short.spool_path or "").write_bytes(b"12345")
    kit.run()
    assert kit.job(gone.job_id).error_code == "spool_missing"
    assert kit.job(short.job_id).error_code == "spool_damaged"


def test_the_kit_refuses_redis(tmp_path: Path) -> None:
    """The proof the tests above hold: a Redis call from inside one fails the test (not a skip, not a hang)."""
    import redis

    with pytest.raises(AssertionError, match="tried to connect to Redis"):
        redis.Redis.from_url(LegKit(tmp_path).settings.redis_url).ping()


def test_the_actors_run_the_leg_on_dramatiqs_stub_broker(tmp_path: Path) -> None:
    """The actor wiring of ``actors.runtime`` with the leg on twins: messages go through a real Dramatiq
    worker on its in-memory StubBroker, from the front door's dispatch to ACTIVE."""
    import dramatiq
    from dramatiq.brokers.stub import StubBroker

    from focalpoint_upload.actors.dispatch import GEMINI_QUEUE, DramatiqDispatcher
    from focalpoint_upload.actors.runtime import DramatiqScheduler, build_actors

    kit = LegKit(tmp_path)
    kit.gemini.new_file_state = "PROCESSING"
    broker = StubBroker()
    actors = build_actors(broker, lambda: kit.leg, kit.store)
    kit.leg.schedule = DramatiqScheduler(actors.upload, actors.poll, actors.stream)
    kit.leg.uniform = lambda a, b: 0.0  # no waiting between polls (poll_delay's floor, 0.2 s, still applies)
    job = kit.spooled()
    kit.scheduler.take()  # the kit's own first message: sent through Dramatiq below instead
    polls: list[str] = []

    real_get = kit.gemini.get

    def get(name: str) -> RemoteFile:
        polls.append(name)
        if len(polls) == 2:
            kit.gemini.set_state(name, "ACTIVE")  # Gemini finished processing between the two polls
        return real_get(name)

    kit.gemini.get = get  # type: ignore[method-assign]
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        DramatiqDispatcher(broker).job_spooled(job.job_id, job.msg_gen)
        broker.join(GEMINI_QUEUE, timeout=20_000, fail_fast=True)
        worker.join()
    finally:
        worker.stop()
        broker.close()
    done = kit.job(job.job_id)
    assert done.state is State.ACTIVE and len(polls) == 2 and done.polls == 2


def test_a_run_that_died_after_gemini_finished_the_file_resumes_to_that_one_file(tmp_path: Path) -> None:
    """A run died between Gemini's final answer and the compare-and-set: the next run asks the stored session,
    gets the same file back, and no second file is made."""
    kit = LegKit(tmp_path)
    kit.gemini.upload_faults = [(1, GeminiTransient("503"))]
    job = kit.spooled(size=8)
    kit.step()
    url = kit.job(job.job_id).gemini_upload_url
    assert url is not None
    # The run that died: it sent the rest and Gemini made the file, but the job never heard of it.
    made = kit.gemini.upload(Path(job.spool_path or ""), 8, "video/mp4", None, url, lambda u: None, lambda o: None)
    kit.run()
    done = kit.job(job.job_id)
    assert done.state is State.ACTIVE and done.gemini_file_name == made.name
    assert list(kit.gemini.files) == [made.name] and kit.gemini.chunks_sent == 2


def test_resend_starts_one_new_chain_and_the_old_message_is_dropped(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    kit.gemini.new_file_state = "PROCESSING"
    job = kit.spooled()
    lost = kit.scheduler.take()  # the message was lost (a Redis restart dropped it)
    assert lost is not None and kit.leg.resend(job.job_id)
    [fresh] = kit.scheduler.sent
    assert fresh.kind == "upload" and fresh.gen == lost.gen + 1
    kit.leg.upload(lost.job_id, lost.gen)  # the lost one turns up after all: stale, nothing happens
    assert kit.job(job.job_id).state is State.SPOOLED and kit.gemini.chunks_sent == 0
    kit.step()  # the fresh chain uploads; the file is PROCESSING
    assert kit.leg.resend(job.job_id) and kit.scheduler.sent[-1].kind == "poll"
    kit.gemini.set_state(kit.job(job.job_id).gemini_file_name or "", "ACTIVE")
    kit.run()
    assert kit.job(job.job_id).state is State.ACTIVE and not kit.leg.resend(job.job_id)  # final: nothing to send


def test_a_deleted_jobs_file_whose_delete_fails_stays_counted(tmp_path: Path) -> None:
    kit = LegKit(tmp_path)
    job = kit.spooled(size=10)
    kit.run()
    kit.store.transition(job.job_id, Event.DELETE, deleted_at=kit.clock())
    kit.gemini.delete_faults = [GeminiTransient("503")]
    kit.leg.cancel(job.job_id)
    assert kit.budget.held() == {job.job_id: 10} and len(kit.gemini.files) == 1  # the file may still exist
    kit.leg.cancel(job.job_id)  # again (or the sweeper's FileLife): now it goes
    assert kit.budget.held() == {} and kit.gemini.files == {}
