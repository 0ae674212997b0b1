"""The status, upload and tus handlers on the in-memory twins: no Redis anywhere (REDIS_URL is unset and nothing
is connected), so these run wherever Python runs. The same behaviour is checked against real Redis by the
service tests beside this file."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import tornado.testing
import tornado.web

from focalpoint_upload.frontdoor import Frontdoor, make_app
from focalpoint_upload.frontdoor.core import UploadCore
from focalpoint_upload.frontdoor.locker import Locker, MemoryLeases
from focalpoint_upload.frontdoor.pace import MemoryCounter, Pace
from focalpoint_upload.frontdoor.upload_slots import MemoryUploadSlots
from focalpoint_upload.frontdoor.uploads import upload_routes
from focalpoint_upload.jobs import Job, State
from focalpoint_upload.jobs.astore import AsyncMemoryJobStore
from focalpoint_upload.ratelimit.arules import AsyncUploadLimits
from tests.conftest import FakeClock
from tests.helpers.service import service_settings

TUS = {"Tus-Resumable": "1.0.0"}


class Dispatched:
    """The dispatcher's twin: records hand-offs."""

    def __init__(self) -> None:
        self.spooled: list[tuple[str, int]] = []
        self.cancelled: list[str] = []

    def job_spooled(self, job_id: str, gen: int) -> None:
        self.spooled.append((job_id, gen))

    def job_cancelled(self, job_id: str) -> None:
        self.cancelled.append(job_id)


class CountingStore(AsyncMemoryJobStore):
    """The store's twin, counting reads (a refused poll must read no job)."""

    reads = 0

    async def get(self, job_id: str, owner: str | None = None) -> Job | None:
        self.reads += 1
        return await super().get(job_id, owner)


class MemoryFrontdoorTest(tornado.testing.AsyncHTTPTestCase):
    status_limit = "1000/minute"

    def get_app(self) -> tornado.web.Application:
        tmp = Path(self.tmp.name)
        self.clock = FakeClock(time.time())
        settings = service_settings(tmp, None, "fptest-memory", limit_status_per_ip=self.status_limit)
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        self.store = CountingStore(self.clock)
        self.dispatched = Dispatched()
        self.fd = Frontdoor(settings=settings, store=self.store, dispatcher=self.dispatched, clock=self.clock,
                            slots=MemoryUploadSlots(),
                            limits=AsyncUploadLimits.from_settings(settings, "memory://", clock=self.clock))
        core = UploadCore(self.fd, Locker(MemoryLeases(6.0, self.clock), 6.0, 0.0, monotonic=self.clock),
                          Pace(MemoryCounter(), 1000, self.clock))
        return make_app(self.fd, upload_routes(self.fd, core))

    def setUp(self) -> None:
        import tempfile

        self.tmp = tempfile.TemporaryDirectory(prefix="fp-memory-")
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        self.fd.shutdown()
        self.tmp.cleanup()

    def upload(self, body: bytes, attempt: str = "att-memory-0001") -> Any:
        return self.fetch("/api/upload", method="POST", body=body,
                          headers={"X-Attempt-Id": attempt, "Content-Type": "video/mp4", "X-File-Name": "a.mp4"})


class StatusAndUploadTest(MemoryFrontdoorTest):
    def test_an_upload_is_spooled_dispatched_and_polled_with_etags(self) -> None:
        body = b"v" * 300_000
        answer = self.upload(body)
        assert answer.code == 202, answer.body
        job_id = tornado.escape.json_decode(answer.body)["jobId"]
        job = self.store.jobs[job_id]
        assert job.state == State.SPOOLED and job.sha256 == hashlib.sha256(body).hexdigest()
        assert self.dispatched.spooled == [(job_id, job.msg_gen)]
        assert Path(str(job.spool_path)).read_bytes() == body

        poll = self.fetch(f"/api/upload/status?jobId={job_id}")
        assert poll.code == 200 and tornado.escape.json_decode(poll.body)["state"] == "SPOOLED"
        unchanged = self.fetch(f"/api/upload/status?jobId={job_id}", headers={"If-None-Match": poll.headers["ETag"]})
        assert unchanged.code == 304
        by_attempt = self.fetch("/api/upload/status?attemptId=att-memory-0001")
        assert tornado.escape.json_decode(by_attempt.body)["jobId"] == job_id

    def test_a_replay_of_the_attempt_makes_no_second_job(self) -> None:
        first = self.upload(b"x" * 1000)
        again = self.upload(b"x" * 1000)
        assert (first.code, again.code) == (202, 200)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert len(self.store.jobs) == 1 and len(self.dispatched.spooled) == 1

    def test_unknown_job_is_404_and_an_unreachable_store_is_503(self) -> None:
        assert self.fetch("/api/upload/status?jobId=nosuchjob").code == 404
        self.store.down = True
        down = self.fetch("/api/upload/status?jobId=nosuchjob")
        assert down.code == 503
        assert tornado.escape.json_decode(down.body)["error"]["code"] == "unavailable"

    def test_cancel_moves_the_job_and_tells_the_actors(self) -> None:
        job_id = tornado.escape.json_decode(self.upload(b"c" * 1000).body)["jobId"]
        answer = self.fetch(f"/api/upload/{job_id}", method="DELETE")
        assert answer.code == 200 and self.store.jobs[job_id].state == State.CANCELLED
        assert self.dispatched.cancelled == [job_id]


class StatusLimitTest(MemoryFrontdoorTest):
    status_limit = "2/minute"

    def test_a_refused_poll_is_429_and_reads_no_job(self) -> None:
        codes = [self.fetch("/api/upload/status?jobId=nosuchjob").code for _ in range(3)]
        assert codes == [404, 404, 429]
        assert self.store.reads == 2
        refused = self.fetch("/api/upload/status?jobId=nosuchjob")
        assert refused.code == 429 and int(refused.headers["Retry-After"]) >= 1


class TusTest(MemoryFrontdoorTest):
    def test_create_patch_head_and_complete(self) -> None:
        created = self.fetch("/api/uploads", method="POST", body=b"",
                             headers={**TUS, "Upload-Length": "2000", "Upload-Metadata": "filetype dmlkZW8vbXA0"})
        assert created.code == 201, created.body
        url = created.headers["Location"]
        first = self.fetch(url, method="PATCH", body=b"a" * 1200,
                           headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert first.code == 204 and first.headers["Upload-Offset"] == "1200"
        head = self.fetch(url, method="HEAD", headers=TUS)
        assert head.headers["Upload-Offset"] == "1200" and head.headers["Upload-Length"] == "2000"
        wrong = self.fetch(url, method="PATCH", body=b"b" * 10,
                           headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert wrong.code == 409
        last = self.fetch(url, method="PATCH", body=b"b" * 800,
                          headers={**TUS, "Upload-Offset": "1200", "Content-Type": "application/offset+octet-stream"})
        assert last.code == 204 and last.headers["Upload-Offset"] == "2000"
        (job,) = self.store.jobs.values()
        assert job.state == State.SPOOLED and job.sha256 == hashlib.sha256(b"a" * 1200 + b"b" * 800).hexdigest()
        assert self.dispatched.spooled == [(job.job_id, job.msg_gen)]
