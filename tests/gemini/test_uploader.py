"""The crash-proof uploader against the emulator, fault by fault: always ONE Gemini file, and a chunk is
sent again only when the server did not keep it."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from focalpoint_upload.gemini.emulator import EmulatorServer
from focalpoint_upload.gemini.errors import CaughtUp, GeminiPermanent, GeminiTransient
from focalpoint_upload.gemini.model import FileInfo
from focalpoint_upload.gemini.resumable import ResumableClient
from focalpoint_upload.gemini.uploader import Uploader, chunk_size
from tests.gemini.conftest import GRANULE, make_file

CHUNK = 4 * GRANULE
SIZE = 10 * GRANULE + 123  # three chunks: 4 + 4 + 2.x granules


class Calls:
    """Records the callbacks and the (fake) sleeps, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.sleeps: list[float] = []

    def save_session(self, url: str) -> None:
        self.events.append(("session", url))

    def save_progress(self, offset: int) -> None:
        self.events.append(("progress", offset))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    @property
    def sessions(self) -> list[object]:
        return [v for k, v in self.events if k == "session"]


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[ResumableClient]:
    with ResumableClient(api_key=server.api_key, base_url=server.base_url, timeout_s=0.5) as c:
        yield c


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_file(tmp_path, SIZE)


def run(client: ResumableClient, source: Path, calls: Calls, session_url: str | None = None,
        **kwargs: object) -> FileInfo:
    uploader = Uploader(client, chunk_bytes=CHUNK + 7, sleep=calls.sleep, **kwargs)  # type: ignore[arg-type]
    return uploader.upload(source, SIZE, "video/mp4", display_name="clip", session_url=session_url,
                           save_session=calls.save_session, save_progress=calls.save_progress)


def chunks_sent(server: EmulatorServer) -> Counter[tuple[str | None, int | None]]:
    return Counter((e["upload_id"], e["offset"]) for e in server.emulator.log()
                   if e["route"] in ("chunk", "finalize"))


def assert_one_good_file(server: EmulatorServer, source: Path, file: FileInfo) -> None:
    files = list(server.emulator.files.values())
    assert len(files) == 1
    assert files[0].sha256_hex == hashlib.sha256(source.read_bytes()).hexdigest()
    assert file.name == f"files/{files[0].file_id}" and file.size_bytes == SIZE


def resent(server: EmulatorServer) -> list[tuple[str | None, int | None]]:
    return [key for key, n in chunks_sent(server).items() if n > 1]


def test_chunk_size_rounding() -> None:
    assert chunk_size(8 * 2**20 + 5, 2**20) == 8 * 2**20
    assert chunk_size(100, 256) == 256
    assert chunk_size(100, None) == 100


def test_clean_upload_saves_session_before_bytes(server: EmulatorServer, client: ResumableClient,
                                                 source: Path) -> None:
    calls = Calls()
    file = run(client, source, calls)
    assert_one_good_file(server, source, file)
    assert calls.events[0][0] == "session"
    assert calls.events[1:] == [("progress", CHUNK), ("progress", 2 * CHUNK)]
    assert sorted(o or 0 for _, o in chunks_sent(server)) == [0, CHUNK, 2 * CHUNK]
    assert calls.sleeps == []


def test_429_with_retry_after(server: EmulatorServer, client: ResumableClient, source: Path) -> None:
    server.emulator.add_fault("error", "chunk", status=429, retry_after=2, skip=1)
    calls = Calls()
    assert_one_good_file(server, source, run(client, source, calls))
    assert calls.sleeps == [2.0]
    assert len(resent(server)) == 1 and resent(server)[0][1] == CHUNK


def test_long_retry_after_goes_back_to_the_caller(server: EmulatorServer, client: ResumableClient,
                                                  source: Path) -> None:
    server.emulator.add_fault("error", "chunk", status=429, retry_delay=120)
    calls = Calls()
    with pytest.raises(GeminiTransient) as info:
        run(client, source, calls, max_inline_wait_s=10)
    assert info.value.retry_after == 120 and calls.sleeps == []


def test_503_burst_absorbed(server: EmulatorServer, client: ResumableClient, source: Path) -> None:
    fault = server.emulator.add_fault("error", "upload", status=503, times=3, skip=2)
    calls = Calls()
    assert_one_good_file(server, source, run(client, source, calls))
    assert fault.fired == 3 and calls.sleeps == [0.5, 1.0, 2.0]
    assert [o for _, o in resent(server)] == [2 * CHUNK]  # only the final chunk went again


def test_503_burst_too_long_then_resume_from_stored_session(server: EmulatorServer, client: ResumableClient,
                                                            source: Path) -> None:
    server.emulator.add_fault("error", "chunk", status=503, times=4, skip=1)
    calls = Calls()
    with pytest.raises(GeminiTransient):
        run(client, source, calls, max_retries=3)
    assert calls.events[-1] == ("progress", CHUNK)
    stored = str(calls.sessions[-1])
    file = run(client, source, calls, session_url=stored)  # the caller's retry, after a crash or a backoff
    assert_one_good_file(server, source, file)
    assert calls.sessions == [stored]  # no new session
    offsets = [e["offset"] for e in server.emulator.log() if e["route"] in ("chunk", "finalize")]
    assert offsets.count(0) == 1  # never restarted from zero


def test_dropped_connection_mid_chunk(server: EmulatorServer, client: ResumableClient, source: Path) -> None:
    server.emulator.add_fault("drop_request", "chunk", after_bytes=2 * GRANULE + 100, skip=1)
    calls = Calls()
    assert_one_good_file(server, source, run(client, source, calls))
    # the server kept 2 granules of the second chunk; the upload resumed from there
    offsets = sorted(o or 0 for _, o in chunks_sent(server))
    assert offsets == [0, CHUNK, CHUNK + 2 * GRANULE, 2 * CHUNK + 2 * GRANULE]
    sent = sum(e["bytes"] for e in server.emulator.log() if e["route"] in ("chunk", "finalize"))
    assert sent - SIZE <= CHUNK  # at most one chunk's worth sent twice


@pytest.mark.parametrize("route", ["chunk", "finalize"])
def test_committed_but_unanswered(server: EmulatorServer, client: ResumableClient, source: Path,
                                  route: str) -> None:
    server.emulator.add_fault("drop_response", route)
    calls = Calls()
    assert_one_good_file(server, source, run(client, source, calls))
    assert resent(server) == []  # the query showed the bytes were kept: nothing sent twice


def test_stalled_chunk_times_out_and_resumes(server: EmulatorServer, client: ResumableClient,
                                             source: Path) -> None:
    server.emulator.add_fault("stall", "chunk", seconds=1.0, skip=1)  # client timeout is 0.5 s
    calls = Calls()
    assert_one_good_file(server, source, run(client, source, calls))
    assert len(resent(server)) == 1


def test_session_expiry_mid_upload(server: EmulatorServer, client: ResumableClient, source: Path) -> None:
    server.emulator.add_fault("expire_session", "chunk", skip=1)
    calls = Calls()
    assert_one_good_file(server, source, run(client, source, calls))
    assert len(calls.sessions) == 2  # the new session was saved before its first byte
    assert calls.events.index(("session", calls.sessions[1])) < len(calls.events) - 1
    # the old session's bytes are lost with it: the new session starts at 0, each of its chunks sent once
    new_id = server.emulator.upload_id_of(str(calls.sessions[1]))
    assert sorted(o or 0 for (u, o) in chunks_sent(server) if u == new_id) == [0, CHUNK, 2 * CHUNK]
    assert resent(server) == []


def test_stored_session_resumes_from_its_offset(server: EmulatorServer, client: ResumableClient,
                                                source: Path) -> None:
    session = client.start(SIZE, "video/mp4", "clip")
    client.upload_chunk(session.url, 0, source.read_bytes()[:CHUNK], finalize=False)
    calls = Calls()
    assert_one_good_file(server, source, run(client, source, calls, session_url=session.url))
    routes = [(e["route"], e["offset"]) for e in server.emulator.log()][2:]
    assert routes == [("query", None), ("chunk", CHUNK), ("finalize", 2 * CHUNK)]
    assert calls.sessions == []


def test_stored_session_already_final(server: EmulatorServer, client: ResumableClient, source: Path) -> None:
    first = Calls()
    file = run(client, source, first)
    again = Calls()
    assert run(client, source, again, session_url=str(first.sessions[0])) == file
    assert server.emulator.log()[-1]["route"] == "query" and again.events == []


def test_stored_session_expired_starts_over(server: EmulatorServer, client: ResumableClient,
                                            source: Path) -> None:
    old = client.start(SIZE, "video/mp4").url
    server.emulator.expire_session()
    calls = Calls()
    assert_one_good_file(server, source, run(client, source, calls, session_url=old))
    assert len(calls.sessions) == 1 and calls.sessions[0] != old


def test_permanent_errors_are_not_retried(server: EmulatorServer, client: ResumableClient,
                                          source: Path) -> None:
    server.emulator.configure(max_file_bytes=SIZE - 1)
    calls = Calls()
    with pytest.raises(GeminiPermanent) as info:
        run(client, source, calls)
    assert info.value.code == "invalid_argument" and calls.events == [] and calls.sleeps == []


def test_a_limit_sends_whole_granules_below_it_then_a_later_call_finishes(client: ResumableClient, source: Path,
                                                                         server: EmulatorServer) -> None:
    """Stream-through: only bytes below ``limit()`` go, in whole granules, never the last byte; CaughtUp says
    where Gemini is; the same session then takes the tail and the finalize."""
    calls = Calls()
    uploader = Uploader(client, chunk_bytes=CHUNK, sleep=calls.sleep)
    durable = [GRANULE * 5 + 10]
    with pytest.raises(CaughtUp) as caught:
        uploader.upload(source, SIZE, "video/mp4", session_url=None, save_session=calls.save_session,
                        save_progress=calls.save_progress, limit=lambda: durable[0])
    assert caught.value.offset == GRANULE * 5 and server.emulator.files == {}
    durable[0] = SIZE  # every byte durable: still never the last one while the limit applies
    [url] = calls.sessions
    with pytest.raises(CaughtUp) as caught:
        uploader.upload(source, SIZE, "video/mp4", session_url=str(url), save_session=calls.save_session,
                        save_progress=calls.save_progress, limit=lambda: durable[0])
    assert caught.value.offset == GRANULE * 10 and server.emulator.files == {}
    info = uploader.upload(source, SIZE, "video/mp4", session_url=str(url), save_session=calls.save_session,
                           save_progress=calls.save_progress)
    assert info.size_bytes == SIZE and len(server.emulator.files) == 1 and len(calls.sessions) == 1
    assert [v for k, v in calls.events if k == "progress"][-1] == GRANULE * 10  # then the final chunk
