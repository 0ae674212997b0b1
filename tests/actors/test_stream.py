"""Stream-through (``actors.stream``) on the in-memory twins: the leg forwards a resumable upload's durable bytes
while the "client" is still sending, message by message on a hand-moved clock.

The front door's side is played here exactly as ``frontdoor.append``/``frontdoor.stream`` do it: bytes go to the
``.part`` file, ``bytes_received`` is recorded, STREAM_STARTED plus one ``stream`` message, and at the end a
rename, SPOOL_COMPLETE and the upload message with the job's current generation.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from focalpoint_upload.actors.stream import BUSY_DELAY_S, IDLE_RECHECK_MAX_S
from focalpoint_upload.gemini.errors import GeminiPermanent, GeminiTransient
from focalpoint_upload.jobs import Event, Job, State, new_job_id
from tests.actors.legkit import LegKit, no_redis

pytestmark = pytest.mark.usefixtures("no_redis")
__all__ = ["no_redis"]


class Client:
    """A resumable upload as the front door spools it."""

    def __init__(self, kit: LegKit, size: int, seed: int = 7) -> None:
        self.kit, self.size = kit, size
        self.data = random.Random(seed).randbytes(size)
        self.job_id = new_job_id()
        self.final = kit.spool / self.job_id
        self.part = Path(f"{self.final}.part")
        self.part.write_bytes(b"")
        now = kit.clock()
        kit.store.claim(Job(job_id=self.job_id, attempt_id=new_job_id(), state=State.SPOOLING, created_at=now,
                            updated_at=now, spool_path=str(self.final), mime_type="video/mp4",
                            file_name="clip.mp4", bytes_total=size, resumable=True))

    def send(self, upto: int) -> None:
        """Append bytes up to ``upto`` and record them durable; the first time, start the stream."""
        job = self.kit.job(self.job_id)
        with self.part.open("ab") as f:
            f.write(self.data[job.bytes_received:upto])
        job = self.kit.store.update(self.job_id, expect=State.SPOOLING, bytes_received=upto,
                                    last_byte_at=self.kit.clock())
        if not job.streaming:
            job = self.kit.store.transition(self.job_id, Event.STREAM_STARTED, expect=State.SPOOLING,
                                            streaming=True)
            self.kit.scheduler.stream(self.job_id, job.msg_gen)

    def complete(self) -> None:
        self.send_bytes_only(self.size)
        self.part.rename(self.final)
        done = self.kit.store.transition(self.job_id, Event.SPOOL_COMPLETE, expect=State.SPOOLING,
                                         bytes_received=self.size, sha256=hashlib.sha256(self.data).hexdigest(),
                                         last_byte_at=self.kit.clock())
        self.kit.scheduler.upload(self.job_id, done.msg_gen)

    def send_bytes_only(self, upto: int) -> None:
        job = self.kit.job(self.job_id)
        with self.part.open("ab") as f:
            f.write(self.data[job.bytes_received:upto])

    @property
    def job(self) -> Job:
        return self.kit.job(self.job_id)


def stream_kit(tmp_path: Path, **settings: object) -> LegKit:
    kit = LegKit(tmp_path, **settings)
    kit.leg.stream_batch = 4  # the twin's chunk (the default is GEMINI_CHUNK_SIZE)
    return kit


def test_catch_up_then_wait_without_a_slot_then_continue(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(9)
    assert kit.step().kind == "stream"  # type: ignore[union-attr]
    job = client.job
    assert job.state is State.SPOOLING and job.bytes_uploaded == 8  # whole granules only, below bytesReceived
    assert job.public()["streaming"] is True and job.public()["progress"]["bytesUploaded"] == 8
    assert kit.slots.in_use() == 0 and not kit.leases.held(client.job_id)  # nothing held while waiting
    [again] = kit.scheduler.sent
    assert again.kind == "stream" and again.delay_s == kit.settings.stream_recheck_s
    sent = kit.gemini.chunks_sent
    kit.step()  # nothing new is durable: no Gemini call, the next look later
    assert kit.gemini.chunks_sent == sent and client.job.bytes_uploaded == 8
    client.send_bytes_only(30)  # on disk but not yet recorded durable: never forwarded
    kit.step()
    assert client.job.bytes_uploaded == 8
    client.send(30)
    kit.step()
    assert client.job.bytes_uploaded == 30 and client.job.state is State.SPOOLING
    assert len(kit.gemini.sessions) == 1 and kit.gemini.files == {}  # one session, no file before the end


def test_the_tail_is_sent_and_finalised_after_the_last_byte(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(20)
    kit.step()
    client.send(36)
    kit.step()
    assert client.job.bytes_uploaded == 36
    before = kit.gemini.chunks_sent
    client.complete()
    kit.run()
    done = client.job
    assert done.state is State.ACTIVE and done.sha256_verified is True and done.bytes_uploaded == 40
    assert kit.gemini.chunks_sent - before == 1  # only the tail went after the last byte
    assert len(kit.gemini.files) == 1 and len(kit.gemini.sessions) == 1
    assert done.public()["streaming"] is False
    assert kit.slots.in_use() == 0 and kit.alerts.failed == []


def test_never_the_last_byte_before_completion(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 20)
    client.send(20)  # every byte durable, the job still SPOOLING (its completion not yet recorded)
    for _ in range(5):
        kit.step()  # the chain goes on looking while the job spools; it never finalises
    job = client.job
    assert job.state is State.SPOOLING and job.bytes_uploaded == 18 and kit.gemini.files == {}


def test_a_completion_while_the_stream_waits_hands_over_to_the_upload(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(12)
    kit.step()
    client.complete()  # the stream's next message and the upload message now share the generation
    messages = kit.run()
    assert [m.kind for m in messages] == ["stream", "upload"]
    assert client.job.state is State.ACTIVE and len(kit.gemini.files) == 1


def test_an_upload_meeting_a_stream_run_looks_again_soon(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(12)
    kit.step()
    client.complete()
    kit.scheduler.sent = [m for m in kit.scheduler.sent if m.kind == "upload"]
    token = kit.leases.acquire(client.job_id)  # a stream run holding the job right now
    kit.step()
    [again] = kit.scheduler.sent
    assert again.kind == "upload" and BUSY_DELAY_S[0] <= again.delay_s <= BUSY_DELAY_S[1]
    assert token is not None
    kit.leases.release(client.job_id, token)
    kit.run()
    assert client.job.state is State.ACTIVE and len(kit.gemini.files) == 1


def test_cancel_while_waiting_cancels_the_gemini_session(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(20)
    kit.step()
    [session] = kit.gemini.sessions.values()
    kit.store.transition(client.job_id, Event.CANCEL, error_code="cancelled", error_message="Cancelled.",
                         error_retryable=False)
    kit.run()
    assert session.cancelled and kit.gemini.files == {}
    assert kit.budget.held() == {} and not client.part.exists()


def test_cancel_mid_stream_stops_the_run_and_cancels_the_session(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(36)

    def cancel_at(offset: int) -> None:
        if offset == 8:
            kit.store.transition(client.job_id, Event.CANCEL, error_code="cancelled", error_message="Cancelled.",
                                 error_retryable=False)

    kit.gemini.on_chunk = cancel_at
    kit.run()
    [session] = kit.gemini.sessions.values()
    assert session.cancelled and session.received == 8 and kit.gemini.files == {}
    assert client.job.state is State.CANCELLED and kit.scheduler.sent == []
    assert kit.slots.in_use() == 0 and not kit.leases.held(client.job_id)


def test_an_expired_ingest_cancels_the_session_and_frees_the_budget(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(20)
    kit.step()
    assert kit.budget.held() == {client.job_id: 40}  # counted from the first streamed byte
    kit.store.transition(client.job_id, Event.FAIL, expect=State.SPOOLING, error_code="upload_expired",
                         error_message="expired", error_retryable=False)
    kit.run()
    [session] = kit.gemini.sessions.values()
    assert session.cancelled and kit.gemini.files == {} and kit.budget.held() == {}


def test_a_crash_mid_stream_resumes_from_geminis_offset(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(32)

    class Killed(BaseException):
        pass

    def die_at(offset: int) -> None:
        if offset == 12:
            raise Killed  # the worker dies after Gemini took the chunk, before we saved its offset

    kit.gemini.on_chunk = die_at
    message = kit.scheduler.take()
    assert message is not None
    with pytest.raises(Killed):
        kit.leg.stream(message.job_id, message.gen)
    kit.gemini.on_chunk = None
    assert client.job.bytes_uploaded == 8  # our record lags; Gemini has 12
    kit.leg.stream(message.job_id, message.gen)  # Dramatiq redelivers the same message
    assert client.job.bytes_uploaded == 32
    assert kit.gemini.chunks_sent == 8  # 32 bytes in chunks of 4: nothing sent twice
    client.complete()
    kit.run()
    assert client.job.state is State.ACTIVE and len(kit.gemini.files) == 1 and kit.gemini.chunks_sent == 10


def test_a_transient_gemini_error_retries_the_stream_later(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(20)
    kit.gemini.upload_faults = [(1, GeminiTransient("503", retry_after=3.0))]
    kit.step()
    [again] = kit.scheduler.sent
    assert again.kind == "stream" and again.delay_s == 3.0 and client.job.bytes_uploaded == 4
    assert client.job.state is State.SPOOLING and client.job.attempts == 0  # the stream never spends budget
    kit.step()
    assert client.job.bytes_uploaded == 20


def test_a_silent_client_is_looked_at_less_and_less_often(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(8)
    kit.step()
    delays = []
    for _ in range(12):
        message = kit.step()
        assert message is not None
        delays.append(kit.scheduler.sent[0].delay_s)
    assert delays == sorted(delays) and delays[-1] > delays[0]
    kit.clock.advance(3600)
    kit.step()
    assert kit.scheduler.sent[0].delay_s == IDLE_RECHECK_MAX_S


def test_stream_through_off_forwards_nothing_before_the_last_byte(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path, stream_through=False)
    client = Client(kit, 40)
    client.send(36)
    kit.run()
    assert client.job.bytes_uploaded == 0 and kit.gemini.sessions == {}
    client.complete()
    kit.run()
    assert client.job.state is State.ACTIVE


def test_no_slot_free_means_no_bytes_and_a_later_look(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path, slots=1)
    client = Client(kit, 40)
    client.send(20)
    with kit.slots.hold() as got:
        assert got
        kit.step()
    assert client.job.bytes_uploaded == 0 and kit.scheduler.sent[0].kind == "stream"
    kit.step()
    assert client.job.bytes_uploaded == 20


def test_a_completion_during_a_run_hands_over_at_once_and_never_forks(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(36)
    done: list[int] = []

    def complete_at(offset: int) -> None:
        if offset == 8 and not done:
            done.append(offset)
            client.complete()  # the last PATCH lands while the stream run is sending

    kit.gemini.on_chunk = complete_at
    kit.step()
    kinds = [(m.kind, m.gen) for m in kit.scheduler.sent]
    front_door, ours = kit.scheduler.sent
    assert front_door.kind == ours.kind == "upload" and ours.gen == front_door.gen + 1 and ours.delay_s == 0.0, kinds
    kit.gemini.on_chunk = None
    kit.run()
    job = client.job
    assert job.state is State.ACTIVE and len(kit.gemini.files) == 1 and len(kit.gemini.sessions) == 1
    assert [m.kind for m in kit.ran[1:]] == ["upload", "upload"]  # the stale one is dropped on arrival
    assert kit.gemini.chunks_sent == 10  # nothing sent twice


def test_a_cancel_racing_the_end_of_a_run_still_cancels_the_session(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The run found itself caught up while SPOOLING; the cancel lands before it sends its next message."""
    import focalpoint_upload.actors.stream as stream

    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(8)
    real = stream._durable

    def durable_then_cancel(leg: object, job_id: str) -> int:
        offset = real(leg, job_id)  # type: ignore[arg-type]
        if offset <= kit.job(job_id).bytes_uploaded:  # the look that makes the run stop: now the client cancels
            kit.store.transition(job_id, Event.CANCEL, error_code="cancelled", error_message="Cancelled.",
                                 error_retryable=False)
        return offset

    monkeypatch.setattr(stream, "_durable", durable_then_cancel)
    kit.run()
    [session] = kit.gemini.sessions.values()
    assert session.received == 8 and session.cancelled and kit.scheduler.sent == []


def test_a_permanent_gemini_error_never_fails_a_spooling_job(tmp_path: Path) -> None:
    """The stream pauses (looks again much later); the upload after completion judges Gemini's errors."""
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(20)
    kit.gemini.upload_faults = [(1, GeminiPermanent("invalid_argument", "refused", 400))]
    kit.step()
    [again] = kit.scheduler.sent
    assert again.kind == "stream" and again.delay_s == IDLE_RECHECK_MAX_S
    assert client.job.state is State.SPOOLING and client.job.error_code is None and kit.alerts.failed == []
    client.complete()
    kit.run()
    assert client.job.state is State.ACTIVE and len(kit.gemini.files) == 1


def test_an_upload_meeting_a_dead_stream_runs_lease_looks_less_often_as_time_goes(tmp_path: Path) -> None:
    kit = stream_kit(tmp_path)
    client = Client(kit, 40)
    client.send(12)
    kit.step()
    client.complete()
    kit.scheduler.sent = [m for m in kit.scheduler.sent if m.kind == "upload"]
    assert kit.leases.acquire(client.job_id) is not None  # held by a worker that was SIGKILLed
    delays = []
    while sum(delays) < kit.leases.ttl_s:  # until the dead worker's lease has lapsed
        kit.step()
        delays.append(kit.scheduler.sent[0].delay_s)
    assert delays[0] == BUSY_DELAY_S[0] and delays == sorted(delays) and delays[-1] > 5.0
    assert len(delays) < 30  # not one message per 0.2 s for the whole lease
    assert max(delays) <= kit.leases.ttl_s * 1.5
