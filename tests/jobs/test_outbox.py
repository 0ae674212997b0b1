"""The webhook outbox contract, on Redis and on its in-memory twin (``jobs.memory_outbox``): events recorded in
the job store's own transaction, due oldest first, claimed by compare-and-set, retried, done."""

from __future__ import annotations

import json

import pytest

from focalpoint_upload.jobs import Event, Job, JobStore, StaleJob, State, new_job_id
from tests.conftest import Backend, FakeClock


def make_job(store: JobStore, clock: FakeClock) -> Job:
    job = Job(job_id=new_job_id(), attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
              updated_at=clock())
    store.claim(job)
    return job


def test_one_event_per_final_state_recorded_with_the_change(backend: Backend, clock: FakeClock) -> None:
    outbox = backend.outbox()
    store = backend.store(on_transition=outbox.on_transition)
    failed, active = make_job(store, clock), make_job(store, clock)
    store.transition(failed.job_id, Event.SPOOL_COMPLETE)
    assert outbox.pending() == 0  # not final: no event
    with pytest.raises(StaleJob):
        store.transition(failed.job_id, Event.FAIL, expect=State.SPOOLING)  # refused: nothing recorded
    assert outbox.pending() == 0
    store.transition(failed.job_id, Event.FAIL, error_code="gemini_unavailable")
    clock.advance(1)
    for event in (Event.SPOOL_COMPLETE, Event.UPLOAD_STARTED, Event.UPLOAD_FINISHED, Event.FILE_ACTIVE):
        store.transition(active.job_id, event)
    clock.advance(1)  # events due at the same moment come in id order
    store.transition(active.job_id, Event.EXPIRE)
    due = outbox.due(clock())
    assert len(due) == 3 and outbox.pending() == 3
    events = [outbox.load(event_id) for event_id, _ in due]
    assert [json.loads(e.body)["type"] for e in events] == ["upload.failed", "upload.active", "upload.expired"]
    assert [e.job_id for e in events] == [failed.job_id, active.job_id, active.job_id]
    assert json.loads(events[0].body)["data"]["error"]["code"] == "gemini_unavailable"


def test_a_claim_moves_the_due_time_once_and_retries_and_done_follow(backend: Backend, clock: FakeClock) -> None:
    outbox = backend.outbox()
    store = backend.store(on_transition=outbox.on_transition)
    job = make_job(store, clock)
    store.transition(job.job_id, Event.CANCEL)
    [(event_id, score)] = outbox.due(clock())
    assert outbox.claim(event_id, score, clock() + 60)
    assert not outbox.claim(event_id, score, clock() + 60)  # a second pump saw the same score: it lost
    assert outbox.due(clock()) == []
    outbox.retry_at(event_id, 1, clock() + 30)
    assert outbox.due(clock() + 29) == [] and outbox.due(clock() + 30) == [(event_id, clock() + 30)]
    assert outbox.load(event_id).attempts == 1
    outbox.done(event_id)
    assert outbox.pending() == 0 and outbox.load(event_id) is None
