"""What the page tests share: opening the page, reading its state, throttling its upload, and a stand-in for the
Gemini leg that moves a job through the store the way the actors do (for the tests that do not need Gemini)."""

from __future__ import annotations

import time
from typing import Any

from focalpoint_upload.jobs import Event, Job, State
from tests.helpers.service import RunningService

STORE_KEY = "focalpoint.upload.current"


def open_page(ctx: Any, svc: RunningService, page: Any = None) -> Any:
    page = page or ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(svc.base_url + "/")
    page.wait_for_selector("body[data-ready=true]")
    return page


def state(page: Any) -> str:
    return str(page.evaluate("document.body.dataset.state"))


def stored(page: Any) -> dict[str, Any] | None:
    return page.evaluate(f"JSON.parse(localStorage.getItem('{STORE_KEY}'))")  # type: ignore[no-any-return]


def poke(page: Any) -> None:
    """The network 'came back': the page polls at once instead of waiting out its backoff."""
    page.evaluate("window.dispatchEvent(new Event('online'))")


def stage_status(page: Any, stage: str) -> str:
    return str(page.get_attribute(f'[data-stage="{stage}"]', "data-status"))


def bar_value(page: Any, stage: str) -> str | None:
    return page.get_attribute(f'[data-stage="{stage}"] .bar', "aria-valuenow")  # type: ignore[no-any-return]


def wait_stage(page: Any, stage: str, status: str, timeout: float = 20_000) -> None:
    page.wait_for_selector(f'[data-stage="{stage}"][data-status="{status}"]', timeout=timeout)


def throttle_upload(ctx: Any, page: Any, bytes_per_s: int) -> Any:
    """Chromium's own network emulation: the upload body leaves at ``bytes_per_s``."""
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_s})
    return cdp


def choose_and_upload(page: Any, path: Any) -> None:
    page.set_input_files("#file", str(path))
    page.click("#upload")


def wait_for(predicate: Any, timeout: float = 20.0, what: str = "condition", page: Any = None) -> Any:
    """Poll ``predicate`` until truthy. Give ``page`` when it reads Playwright events: they are only delivered
    while Playwright runs, so the wait then happens inside Playwright instead of in time.sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if page is not None:
            page.wait_for_timeout(50)
        else:
            time.sleep(0.05)


class FakeLeg:
    """Moves a job along SPOOLED -> UPLOADING -> PROCESSING -> ACTIVE/FAILED in the store, like the actors."""

    def __init__(self, svc: RunningService) -> None:
        self.store = svc.store

    def job_of(self, attempt_id: str) -> Job:
        job = wait_for(lambda: self.store.find_by_attempt(attempt_id), what=f"the job of attempt {attempt_id}")
        assert isinstance(job, Job)
        return job

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        assert job is not None
        return job

    def uploading(self, job_id: str, uploaded: int) -> Job:
        if self.get(job_id).state is State.SPOOLED:
            self.store.transition(job_id, Event.UPLOAD_STARTED, expect=State.SPOOLED)
        return self.store.update(job_id, expect=State.UPLOADING, bytes_uploaded=uploaded)

    def processing(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state is State.SPOOLED:
            self.uploading(job_id, 0)
        return self.store.transition(job_id, Event.UPLOAD_FINISHED, expect=State.UPLOADING,
                                     bytes_uploaded=job.bytes_total or 0, gemini_file_name="files/abc123")

    def active(self, job_id: str, uri: str) -> Job:
        if self.get(job_id).state is not State.PROCESSING:
            self.processing(job_id)
        return self.store.transition(job_id, Event.FILE_ACTIVE, expect=State.PROCESSING, gemini_file_uri=uri,
                                     gemini_expires_at="2030-01-03T00:00:00Z")

    def fail(self, job_id: str, code: str, message: str, retryable: bool = False) -> Job:
        return self.store.transition(job_id, Event.FAIL, error_code=code, error_message=message,
                                     error_retryable=retryable)
