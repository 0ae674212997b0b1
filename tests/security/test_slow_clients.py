"""Issue 11, section 1 replayed: a cheap attack (many connections that declare 2 GiB and drip bytes) must not
stop anyone else's upload. Real sockets against the real service and Redis; the minimum-rate window runs on a
clock the test moves (never a sleep)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import select
import socket
from collections.abc import Callable
from typing import Any

import redis

from focalpoint_upload.frontdoor.space import FIRST_STEP, outstanding
from tests.conftest import FakeClock
from tests.helpers.http import PartialUpload, answer_after_whole_body, attempt_id, request, upload_raw
from tests.helpers.service import RunningService
from tests.helpers.wait import wait_for

MiB = 1024 * 1024
GiB = 1024 * MiB
LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


class Dripper:
    """One attacking connection: declares ``declared`` bytes, sends one byte at a time, never more."""

    def __init__(self, port: int, forwarded_for: str | None = None, declared: int = 2 * GiB,
                 media_type: str = "video/mp4") -> None:
        self.attempt = attempt_id()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        xff = f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
        self.sock.sendall((f"POST /api/upload HTTP/1.1\r\nHost: x\r\nX-Attempt-Id: {self.attempt}\r\n{xff}"
                           f"Content-Type: {media_type}\r\nContent-Length: {declared}\r\n\r\n").encode())

    def drip(self) -> None:
        self.sock.sendall(b"z")

    def answer(self) -> tuple[int, dict[str, Any]]:
        """The status and JSON body the server answered with (it closes the connection after it)."""
        data = b""
        while chunk := self.sock.recv(65536):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), json.loads(body)

    def close(self) -> None:
        self.sock.close()


def with_fake_rate_clock(svc: RunningService) -> FakeClock:
    mono = FakeClock(start=0.0)
    svc.frontdoor.monotonic = mono  # read when each request starts: set before any request
    return mono


def drive_until(mono: FakeClock, done: Callable[[], object], step: float = 1.0, what: str = "cut") -> None:
    """Move the rate clock on by ``step`` at every poll until ``done()``: a request whose window started a
    little later than the test thought is judged too, without any real time passing for it."""

    def moved() -> object:
        mono.advance(step)
        return done()

    wait_for(moved, what=what)


def answered(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def request_tasks(svc: RunningService) -> int:
    """Requests the service's loop is still executing (a cut request must not leave its task waiting forever)."""

    async def count() -> int:
        return sum("_execute" in repr(t.get_coro()) for t in asyncio.all_tasks())

    return asyncio.run_coroutine_threadsafe(count(), svc.loop).result(10)


def spool_bytes(svc: RunningService) -> int:
    return sum(p.stat().st_size for p in svc.service.settings.spool_dir.iterdir())


def assert_cut_too_slow(svc: RunningService, clients: list[Dripper]) -> None:
    for c in clients:
        status, body = c.answer()
        assert status == 408
        assert body["error"]["code"] == "client_too_slow"
        job = svc.store.find_by_attempt(c.attempt)
        if job is not None:  # no job for a request that was refused (and drained) before it got one
            assert (job.state, job.error_code) == ("FAILED", "client_too_slow")
            assert job.ingest_failed  # the attempt is free again: nothing stuck
        c.close()


def test_forty_dripping_connections_hold_no_space_and_a_victim_still_gets_202(
        make_service: Callable[..., RunningService]) -> None:
    # The attack of the issue: 40 connections from 2 addresses, each declaring 2 GiB and sending a byte now and
    # then. The spool may hold 3 GiB: before the fix the second attacker's declared size already filled it.
    svc = make_service(spool_cap_bytes=3 * GiB, trusted_proxies=LOOPBACK, max_uploads_per_ip=20)
    mono = with_fake_rate_clock(svc)
    attackers = [Dripper(svc.port, f"198.51.100.{1 + i % 2}") for i in range(40)]
    for a in attackers:
        a.drip()
    fd = svc.frontdoor
    wait_for(lambda: len(fd.inflight) == 40, what="40 attackers streaming")
    assert outstanding(fd.inflight) <= 40 * FIRST_STEP  # each holds one small first step, not 2 GiB
    assert spool_bytes(svc) == 0

    mono.advance(20)  # a drip every 5 s keeps the idle cut-off away; the rate window is not fooled
    for a in attackers:
        a.drip()
    victim = upload_raw(svc.port, 3 * MiB, attempt_id(), extra={"X-Forwarded-For": "203.0.113.9"})
    assert victim.status == 202, victim.body

    # A whole window since they started, far below 16 KiB/s: every attacker is cut.
    drive_until(mono, lambda: not fd.inflight, what="attackers cut")
    assert_cut_too_slow(svc, attackers)
    spool = svc.service.settings.spool_dir
    wait_for(lambda: [p.name for p in spool.iterdir()] == [victim.json["jobId"]], what="only the victim's file")
    wait_for(lambda: request_tasks(svc) == 0, what="no request task left behind by the cut connections")


def test_a_slow_upload_is_cut_with_client_too_slow_and_leaves_nothing(
        make_service: Callable[..., RunningService]) -> None:
    svc = make_service(min_upload_rate_window_s=5.0)
    mono = with_fake_rate_clock(svc)
    slow = PartialUpload(svc.port, 20 * MiB, att := attempt_id())
    slow.send(2 * MiB)  # a good start does not carry an upload through a later window with nothing in it
    wait_for(lambda: spool_bytes(svc) >= MiB, what="the first bytes on disk")
    drive_until(mono, lambda: not svc.frontdoor.inflight, step=0.5)
    dripper = Dripper.__new__(Dripper)
    dripper.sock, dripper.attempt = slow.sock, att
    assert_cut_too_slow(svc, [dripper])
    assert list(svc.service.settings.spool_dir.iterdir()) == []
    assert request(svc.port, "GET", f"/api/upload/status?attemptId={att}").status == 404
    assert upload_raw(svc.port, 1 * MiB, att).status == 202  # the attempt is free: sending it again works


def test_a_slow_refused_request_is_cut_instead_of_drained_forever(make_service: Callable[..., RunningService]) -> None:
    svc = make_service()
    mono = with_fake_rate_clock(svc)
    refused = Dripper(svc.port, media_type="application/x-msdownload")  # 415 once drained: no job, no slot
    refused.drip()
    drive_until(mono, lambda: answered(refused.sock))
    assert_cut_too_slow(svc, [refused])


def test_over_the_per_ip_cap_is_429_after_the_body_is_drained(make_service: Callable[..., RunningService],
                                                               redis_client: redis.Redis, namespace: str) -> None:
    svc = make_service(max_uploads_per_ip=2)
    holders = [PartialUpload(svc.port, 4 * MiB, attempt_id()) for _ in range(2)]
    for h in holders:
        h.send(1 * MiB)
    wait_for(lambda: len(svc.frontdoor.inflight) == 2)
    answer = answer_after_whole_body(svc.port, {"X-Attempt-Id": attempt_id(), "Content-Type": "video/mp4"},
                                     256 * 1024)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 429")
    assert b"Retry-After: 5" in head
    assert json.loads(body)["error"]["code"] == "too_many_uploads"
    assert holders[0].finish().startswith(b"HTTP/1.1 202")
    holders[0].close()
    slots_key = f"{namespace}:uploads:concurrent:ip:127.0.0.1"
    wait_for(lambda: redis_client.zcard(slots_key) == 1, what="the finished upload's slot given back")
    assert upload_raw(svc.port, 1 * MiB, attempt_id()).status == 202
    holders[1].close()
    wait_for(lambda: redis_client.zcard(slots_key) == 0, what="the aborted upload's slot given back")


def test_the_cap_holds_across_two_front_doors(make_service: Callable[..., RunningService]) -> None:
    door_a, door_b = make_service(max_uploads_per_ip=1), make_service(max_uploads_per_ip=1)
    holder = PartialUpload(door_a.port, 4 * MiB, attempt_id())
    holder.send(1 * MiB)
    wait_for(lambda: door_a.frontdoor.inflight)
    r = upload_raw(door_b.port, 1 * MiB, attempt_id())
    assert r.status == 429 and r.json["error"]["code"] == "too_many_uploads"
    holder.close()


def test_readyz_says_when_the_spool_volume_is_under_pressure(make_service: Callable[..., RunningService]) -> None:
    def spool_reason(svc: RunningService) -> str | None:
        body = request(svc.port, "GET", "/readyz").json
        return next((f["reason"] for f in body.get("failing", []) if f["check"] == "spool"), None)

    assert spool_reason(make_service()) is None
    squeezed = make_service(spool_ready_headroom_bytes=1 << 60)
    reason = spool_reason(squeezed)
    assert reason is not None and reason.startswith("spool volume under pressure")
