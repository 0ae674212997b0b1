"""Jobs that went all the way and whose Gemini file is gone since (issue 14 s.3): EXPIRED (by age) and DELETED
(``DELETE /api/upload/{jobId}`` on an ACTIVE job). The page shows them as neither ready nor failed: every stage
done, a neutral result that says what happened and when, no file URI, and the saved attempt forgotten."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from focalpoint_upload.jobs import Event, State
from tests.page.kit import (
    FakeLeg,
    choose_and_upload,
    open_page,
    poke,
    stage_status,
    state,
    stored,
    wait_for,
    wait_stage,
)

MIB = 1024 * 1024
URI = "https://generativelanguage.googleapis.com/v1beta/files/abc123"
STATUS = "**/api/upload/status*"


def hold_polls(page: Any) -> Callable[[], None]:
    """Answer the page's status polls with 304 (nothing new) until the returned function is called. Returns once
    a poll has been held: the page polls one at a time, so no earlier poll can still read the job after that."""
    held: list[str] = []

    def route(r: Any) -> None:
        held.append(r.request.url)
        r.fulfill(status=304)

    page.route(STATUS, route)
    wait_for(lambda: held, what="a held status poll", page=page)
    return lambda: page.unroute(STATUS, route)


def delete_job(base_url: str, job_id: str) -> dict[str, Any]:
    """What another client of the service does: ``DELETE /api/upload/{jobId}``."""
    req = urllib.request.Request(f"{base_url}/api/upload/{job_id}", method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as res:
        doc: dict[str, Any] = json.loads(res.read())
    return doc


def expire(leg: FakeLeg, job_id: str) -> None:
    """What actors/storage.py does when the file's expiry passes."""
    leg.store.transition(job_id, Event.EXPIRE, expect=State.ACTIVE, expired_at=time.time())


def sent_and_tracked(page: Any, video_file: Any) -> str:
    choose_and_upload(page, video_file(2 * MIB))
    wait_stage(page, "send", "done")
    job_id: str = (stored(page) or {})["jobId"]
    return job_id


def assert_gone_result(page: Any, title: str, words: str) -> None:
    page.wait_for_selector("#result.gone")
    assert page.inner_text("#result-title") == title
    text = page.inner_text("#result-text")
    assert words in text and str(datetime.now(UTC).year) in text, text  # what happened, and when
    assert page.is_hidden("#result-uri-row")  # the file URI is of no use any more
    assert "upload it anew" in page.inner_text("#result-advice")
    assert [stage_status(page, s) for s in ("send", "gemini", "process")] == ["done", "done", "done"]
    assert state(page) == "DONE" and stored(page) is None


def test_a_job_that_expired_before_the_page_saw_it_ready(browser_context: Any, service: Any, video_file: Any,
                                                         shots: Any) -> None:
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    job_id = sent_and_tracked(page, video_file)
    release = hold_polls(page)
    leg.active(job_id, URI)
    expire(leg, job_id)
    release()
    poke(page)
    assert_gone_result(page, "Expired", "Gemini no longer keeps it")
    shots(page, "expired")
    assert page.errors == []


def test_a_job_deleted_by_another_client_while_the_page_watched(browser_context: Any, service: Any,
                                                                video_file: Any, shots: Any) -> None:
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    job_id = sent_and_tracked(page, video_file)
    release = hold_polls(page)
    leg.active(job_id, URI)
    assert delete_job(service.base_url, job_id)["state"] == "DELETED"
    release()
    poke(page)
    assert_gone_result(page, "Deleted", "its file there was deleted")
    shots(page, "deleted")
    assert page.errors == []


def test_cancel_that_lands_on_a_job_just_ready_shows_it_deleted(browser_context: Any, service: Any,
                                                               video_file: Any) -> None:
    """The job became ACTIVE after the page's last poll; the user's Cancel is a DELETE, which on an ACTIVE job
    deletes its Gemini file. The page says so rather than 'Cancelled'."""
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    job_id = sent_and_tracked(page, video_file)
    hold_polls(page)
    leg.active(job_id, URI)
    page.click("#cancel")
    assert_gone_result(page, "Deleted", "its file there was deleted")
    assert leg.get(job_id).state is State.DELETED
    assert page.errors == []


@pytest.mark.parametrize("how", ["EXPIRED", "DELETED"])
def test_after_a_reload_the_last_upload_is_named_gone(browser_context: Any, service: Any, video_file: Any,
                                                      how: str) -> None:
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    job_id = sent_and_tracked(page, video_file)
    page.close()  # left while the job was on its way: the attempt stays saved
    leg.active(job_id, URI)
    if how == "EXPIRED":
        expire(leg, job_id)
    else:
        delete_job(service.base_url, job_id)
    assert leg.get(job_id).state is State(how)

    page = open_page(browser_context, service)
    previous = page.inner_text("#previous")
    assert f"“clip.mp4”, ended: {how.lower()}." in previous
    assert "reached Gemini" in previous and str(datetime.now(UTC).year) in previous, previous
    assert page.is_hidden("#resume") and stored(page) is None
    assert state(page) == "IDLE" and page.is_visible("#picker")
    assert page.errors == []
