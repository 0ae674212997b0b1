"""Issue 12: only the spool's own damage fails a job as ``spool_damaged``. Before, any ValueError raised while
uploading (a bug anywhere in the upload path) was turned into a permanent ``spool_damaged`` failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from focalpoint_upload.actors.leg import Leg
from focalpoint_upload.actors.ports import RemoteFile
from focalpoint_upload.gemini.errors import FileTooShort
from focalpoint_upload.jobs import Event, Job, RedisJobStore, State, new_job_id
from focalpoint_upload.jobs.lease import Leases
from tests.conftest import FakeClock
from tests.helpers.service import service_settings


class RaisingUploader:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def upload(self, path: Path, size: int, mime_type: str, display_name: str | None, session_url: str | None,
               save_session: Callable[[str], None], save_progress: Callable[[int], None]) -> RemoteFile:
        raise self.error

    def cancel(self, session_url: str) -> None:
        pass


class OneSlot:
    @contextmanager
    def hold(self) -> Iterator[bool]:
        yield True


class Alerts:
    def __init__(self) -> None:
        self.codes: list[str] = []

    def job_failed(self, job_id: str, attempt_id: str, stage: str, code: str, message: str) -> None:
        self.codes.append(code)


def _leg(tmp_path: Path, redis_client: redis.Redis, namespace: str, clock: FakeClock,
         error: Exception) -> tuple[Leg, Job, Alerts]:
    settings = service_settings(tmp_path, None, namespace)
    store = RedisJobStore(redis_client, namespace, clock, 3600)
    job_id = new_job_id()
    spool = tmp_path / job_id
    spool.write_bytes(b"0123456789")
    store.claim(Job(job_id=job_id, attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
                    updated_at=clock(), spool_path=str(spool), bytes_total=10))
    job = store.transition(job_id, Event.SPOOL_COMPLETE)
    alerts = Alerts()
    leg = Leg(settings, store, RaisingUploader(error), files=None, schedule=None, slots=OneSlot(),  # type: ignore[arg-type]
              lease=Leases(redis_client, namespace, ttl_s=30), alerts=alerts, clock=clock)
    return leg, job, alerts


def test_a_spool_shorter_than_received_fails_the_job_as_damaged(tmp_path: Path, redis_client: redis.Redis,
                                                                namespace: str, clock: FakeClock) -> None:
    leg, job, alerts = _leg(tmp_path, redis_client, namespace, clock, FileTooShort("shorter than 10 bytes"))
    leg.upload(job.job_id, job.msg_gen)
    failed = leg.store.get(job.job_id)
    assert failed is not None and failed.state is State.FAILED
    assert (failed.error_code, failed.error_retryable) == ("spool_damaged", False)
    assert alerts.codes == ["spool_damaged"]


def test_any_other_value_error_is_a_bug_not_a_damaged_spool(tmp_path: Path, redis_client: redis.Redis,
                                                            namespace: str, clock: FakeClock) -> None:
    leg, job, alerts = _leg(tmp_path, redis_client, namespace, clock, ValueError("a bug in the upload path"))
    with pytest.raises(ValueError, match="a bug"):  # Dramatiq retries it, then job_crashed: internal_error
        leg.upload(job.job_id, job.msg_gen)
    current: Any = leg.store.get(job.job_id)
    assert current.state is State.UPLOADING and current.error_code is None and alerts.codes == []
