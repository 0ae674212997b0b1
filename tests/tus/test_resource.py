"""The pure parts of resumable uploads: the phase/operation table, the append check, the lease twin."""

from __future__ import annotations

import base64

import pytest

from focalpoint_upload.config import load_settings
from focalpoint_upload.frontdoor.errors import ApiError
from focalpoint_upload.frontdoor.locker import Locker, MemoryLeases
from focalpoint_upload.frontdoor.resource import TABLE, Op, Phase, Verdict, check_append, decide, phase_of
from focalpoint_upload.frontdoor.tus import Tus, parse_metadata
from focalpoint_upload.jobs import Job, State
from tests.conftest import FakeClock
from tests.tus import aio

EXPIRY = 100.0


def job(state: State, *, resumable: bool = True, updated: float = 0.0, code: str | None = None) -> Job:
    return Job(job_id="j" * 24, attempt_id="a" * 12, state=state, created_at=0.0, updated_at=updated,
               resumable=resumable, error_code=code, bytes_total=10)


@pytest.mark.parametrize(("record", "now", "phase"), [
    (job(State.SPOOLING), 50.0, Phase.INCOMPLETE),
    (job(State.SPOOLING), 100.5, Phase.STALE),
    # stream-through writes the record (bytesUploaded) while the client is silent: that does not keep it alive
    (job(State.SPOOLING, updated=100.0).with_(streaming=True, last_byte_at=0.5), 100.6, Phase.STALE),
    (job(State.SPOOLING, updated=0.0).with_(last_byte_at=60.0), 100.6, Phase.INCOMPLETE),
    (job(State.SPOOLING, resumable=False), 1.0, Phase.FOREIGN),
    (job(State.SPOOLED), 1e9, Phase.COMPLETE),
    (job(State.ACTIVE), 1.0, Phase.COMPLETE),
    (job(State.FAILED, code="gemini_rejected"), 1.0, Phase.COMPLETE),  # every byte was spooled
    (job(State.FAILED, code="upload_expired"), 1.0, Phase.EXPIRED),
    (job(State.FAILED, code="client_aborted"), 1.0, Phase.GONE),
    (job(State.CANCELLED), 1.0, Phase.GONE),
])
def test_phase_of(record: Job, now: float, phase: Phase) -> None:
    assert phase_of(record, now, EXPIRY) is phase


def test_every_phase_and_operation_has_a_verdict() -> None:
    assert set(TABLE) == {(p, o) for p in Phase for o in Op}
    assert decide(Phase.COMPLETE, Op.HEAD) is Verdict.REPORT  # tus-js-client: offset == length is success
    assert decide(Phase.STALE, Op.APPEND) is Verdict.EXPIRE
    assert decide(Phase.EXPIRED, Op.HEAD) is Verdict.GONE


@pytest.mark.parametrize(("args", "code"), [
    ((5, 5, 10, 5, 64), None),
    ((5, 5, 10, None, 64), None),
    ((5, 3, 10, 5, 64), "offset_mismatch"),
    ((10, 10, 10, 0, 64), "upload_complete"),
    ((0, 0, 10, 11, 64), "exceeds_upload_length"),
    ((0, 0, 1000, 100, 64), "append_too_large"),
])
def test_check_append(args: tuple[int, int, int, int | None, int], code: str | None) -> None:
    error = check_append(*args)
    assert (error.code if error else None) == code
    if code == "offset_mismatch":
        assert error is not None and error.status == 409 and error.extra["expectedOffset"] == 5


def _creation_name(name: str) -> str | None:
    meta = "filename " + base64.b64encode(name.encode()).decode()
    return Tus(load_settings({})).creation({"Upload-Length": "5", "Upload-Metadata": meta}).file_name


def test_a_file_name_from_metadata_goes_through_the_one_sanitiser() -> None:
    assert _creation_name("../x/../clip.mp4") == "clip.mp4"
    assert _creation_name("C:\\a\\b.pdf") == "b.pdf"
    # Cleaned as X-File-Name and the multipart filename are (frontdoor.filename), not refused.
    assert _creation_name("a\nb\x1b[31m.mp4\u202e") == "ab.mp4"
    assert _creation_name("../..") is None
    assert _creation_name("x" * 300 + ".mp4") == "x" * 251 + ".mp4"


def test_a_file_name_that_is_no_utf8_text_is_400_bad_file_name() -> None:
    meta = "filename " + base64.b64encode(b"\xff\xfe.mp4").decode()
    with pytest.raises(ApiError) as bad:
        Tus(load_settings({})).creation({"Upload-Length": "5", "Upload-Metadata": meta})
    assert bad.value.status == 400 and bad.value.code == "bad_file_name"
    with pytest.raises(ApiError) as other:
        parse_metadata("filetype " + base64.b64encode(b"\xff").decode())
    assert other.value.code == "bad_metadata"


def test_metadata_reads_tus_and_uppy_keys() -> None:
    assert parse_metadata("filename Y2xpcC5tcDQ=,filetype dmlkZW8vbXA0,empty") == {
        "filename": "clip.mp4", "filetype": "video/mp4", "empty": ""}


def test_a_newcomer_asks_the_holder_and_gets_the_lease_once_released() -> None:
    clock = FakeClock()
    leases = MemoryLeases(6.0, clock)
    locker = Locker(leases, ttl_s=6.0, wait_s=0.0, monotonic=clock)

    async def scenario() -> None:
        first = await locker.take("u1")
        assert first is not None and first.valid()
        assert await locker.take("u1") is None  # held: the newcomer asked and gave up (wait 0)
        assert not await first.keep()  # the holder sees the request at its next renewal
        await first.release()
        second = await locker.take("u1")
        assert second is not None and await second.keep()  # the request was cleared for the new holder
        clock.advance(3.1)
        assert not second.valid()  # half a ttl without renewal: it must stop writing
        clock.advance(3.0)
        third = await locker.take("u1")  # the silent holder's lease expired
        assert third is not None
        assert not await second.keep()

    aio.run(scenario)
