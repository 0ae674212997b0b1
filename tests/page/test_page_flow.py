"""The upload page's main paths in a real Chromium: checks before sending, the stages, single flight, two tabs,
resume after a refresh, cancel, and a failed job. The Gemini leg is stood in for by :class:`FakeLeg`."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from focalpoint_upload.jobs import State
from tests.page.kit import (
    FakeLeg,
    bar_value,
    choose_and_upload,
    open_page,
    poke,
    stage_status,
    state,
    stored,
    throttle_upload,
    wait_for,
    wait_stage,
)

MIB = 1024 * 1024
URI = "https://generativelanguage.googleapis.com/v1beta/files/abc123"


def test_checks_type_and_size_before_sending(browser_context: Any, make_service: Any, access_log: Any,
                                             shots: Any) -> None:
    svc = make_service(max_upload_bytes=5 * MIB)
    page = open_page(browser_context, svc)
    assert "5.0 MB" in page.inner_text("#limits")
    assert page.is_disabled("#upload")

    page.set_input_files("#file", files=[{"name": "notes.zip", "mimeType": "application/zip", "buffer": b"PK"}])
    expect(page.locator("#form-error")).to_contain_text("is not accepted")
    expect(page.locator("#upload")).to_be_disabled()

    page.set_input_files("#file", files=[{"name": "big.mp4", "mimeType": "video/mp4", "buffer": b"x" * (6 * MIB)}])
    expect(page.locator("#form-error")).to_contain_text("the limit is 5.0 MB")
    expect(page.locator("#upload")).to_be_disabled()
    shots(page, "too-large")

    page.set_input_files("#file", files=[{"name": "ok.mp4", "mimeType": "video/mp4", "buffer": b"x" * 1024}])
    expect(page.locator("#form-error")).to_be_hidden()
    expect(page.locator("#upload")).to_be_enabled()
    assert access_log.posts() == [] and access_log.creations() == []  # nothing was sent for the refused files
    assert page.errors == []


def test_big_file_through_all_stages(browser_context: Any, service: Any, access_log: Any, video_file: Any,
                                     shots: Any) -> None:
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    shots(page, "idle")
    throttle_upload(browser_context, page, 40 * MIB)
    choose_and_upload(page, video_file(100 * MIB))

    wait_for(lambda: "MB/s" in page.inner_text("#send-detail"), what="speed and time left")
    assert "left" in page.inner_text("#send-detail")
    assert 0 <= int(bar_value(page, "send") or 0) < 100
    shots(page, "uploading-to-focalpoint")

    wait_stage(page, "send", "done")
    assert bar_value(page, "send") == "100"
    rec = stored(page)
    assert rec is not None and rec["jobId"]
    job_id = rec["jobId"]
    assert leg.get(job_id).state is State.SPOOLED

    leg.uploading(job_id, 50 * MIB)
    poke(page)
    wait_for(lambda: bar_value(page, "gemini") == "50", what="Gemini progress at 50 %")
    assert "50 MB of 100 MB" in page.inner_text("#gemini-detail")
    shots(page, "uploading-to-gemini")

    leg.uploading(job_id, 100 * MIB)  # every byte acknowledged, but the job is not PROCESSING yet: not 100 %
    poke(page)
    wait_for(lambda: "100 MB of 100 MB" in page.inner_text("#gemini-detail"), what="all bytes uploaded")
    assert bar_value(page, "gemini") == "99"

    leg.processing(job_id)
    poke(page)
    wait_stage(page, "process", "active")
    assert stage_status(page, "gemini") == "done"
    wait_for(lambda: "elapsed" in page.inner_text("#process-detail"), what="elapsed time")
    shots(page, "processing")

    leg.active(job_id, URI)
    poke(page)
    page.wait_for_selector("#result.ok")
    assert page.inner_text("#result-title") == "Ready"
    assert page.inner_text("#result-uri") == URI
    assert stage_status(page, "process") == "done"
    assert stored(page) is None  # a finished job is forgotten
    assert "Ready" in page.inner_text("#live")
    shots(page, "ready")

    # One resumable upload, sent in PATCHes that each were answered 204 and together carry the file once.
    assert [c["status"] for c in access_log.creations()] == [201]
    patches = access_log.patches(job_id)
    assert patches and all(p["status"] == 204 for p in patches)
    assert sum(p["bytesReceived"] for p in patches) == 100 * MIB
    assert access_log.posts() == []
    assert page.errors == []


def test_button_disabled_at_once_and_second_click_ignored(browser_context: Any, service: Any, access_log: Any,
                                                         video_file: Any) -> None:
    page = open_page(browser_context, service)
    throttle_upload(browser_context, page, 20 * MIB)
    page.set_input_files("#file", str(video_file(20 * MIB)))
    # Click, then at once try every other way to start a second upload.
    disabled_after_click = page.evaluate("""() => {
        const button = document.getElementById('upload');
        button.click();
        const disabled = button.disabled;
        button.click();
        document.getElementById('picker').requestSubmit();
        document.getElementById('picker').dispatchEvent(new Event('submit', {cancelable: true}));
        return disabled;
    }""")
    assert disabled_after_click is True
    assert state(page) in {"STARTING", "SENDING"}
    page.keyboard.press("Enter")
    wait_stage(page, "send", "done")
    rec = stored(page)
    assert rec is not None
    assert len(access_log.creations()) == 1
    assert page.errors == []


def test_second_tab_cannot_upload(browser_context: Any, service: Any, access_log: Any, video_file: Any,
                                  shots: Any) -> None:
    leg = FakeLeg(service)
    first = open_page(browser_context, service)
    throttle_upload(browser_context, first, 20 * MIB)
    choose_and_upload(first, video_file(30 * MIB))
    wait_for(lambda: state(first) == "SENDING", what="the first tab sending")

    second = open_page(browser_context, service)
    second.wait_for_selector("#elsewhere:visible")
    assert second.is_hidden("#resume")  # the other tab's job is not offered for resuming
    assert second.is_disabled("#upload")
    shots(second, "other-tab")

    wait_stage(first, "send", "done")
    job_id = (stored(first) or {})["jobId"]
    leg.active(job_id, URI)
    poke(first)
    first.wait_for_selector("#result.ok")
    second.wait_for_selector("#elsewhere", state="hidden")  # the lock is free again
    second.set_input_files("#file", files=[{"name": "b.mp4", "mimeType": "video/mp4", "buffer": b"y" * 4096}])
    expect(second.locator("#upload")).to_be_enabled()
    assert len(access_log.creations()) == 1


def test_refresh_during_processing_and_resume(browser_context: Any, service: Any, access_log: Any,
                                              video_file: Any, shots: Any) -> None:
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    choose_and_upload(page, video_file(8 * MIB))
    wait_stage(page, "send", "done")
    rec = stored(page)
    assert rec is not None
    leg.processing(rec["jobId"])
    poke(page)
    wait_stage(page, "process", "active")

    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#resume:visible")
    assert "Resume upload job?" in page.inner_text("#resume")
    assert "clip.mp4" in page.inner_text("#resume-text")
    assert page.is_disabled("#upload")
    shots(page, "resume-offer")
    page.click("#resume-yes")
    wait_stage(page, "process", "active")
    assert stage_status(page, "send") == "done" and stage_status(page, "gemini") == "done"

    leg.active(rec["jobId"], URI)
    poke(page)
    page.wait_for_selector("#result.ok")
    assert stored(page) is None
    assert len(access_log.creations()) == 1  # resuming never sends the file again
    assert sum(p["bytesReceived"] for p in access_log.patches()) == 8 * MIB

    # "No" forgets the job; a job the server does not know is dropped without asking.
    # The job is ACTIVE now: a finished job is dropped from storage and its end reported.
    page.evaluate("""id => localStorage.setItem('focalpoint.upload.current', JSON.stringify(
        {attemptId: 'a'.repeat(32), jobId: id, fileName: 'x.mp4', fileSize: 1, startedAt: 0}))""", rec["jobId"])
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.is_hidden("#resume")
    assert "ended: ready" in page.inner_text("#previous")
    assert stored(page) is None

    page.evaluate("""() => localStorage.setItem('focalpoint.upload.current', JSON.stringify(
        {attemptId: 'b'.repeat(32), jobId: 'no-such-job', fileName: 'x.mp4', fileSize: 1, startedAt: 0}))""")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.is_hidden("#resume")
    assert stored(page) is None
    assert page.errors == []


def test_resume_declined_forgets_job(browser_context: Any, service: Any, video_file: Any) -> None:
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    choose_and_upload(page, video_file(2 * MIB))
    wait_stage(page, "send", "done")
    job_id = (stored(page) or {})["jobId"]
    page.reload()
    page.wait_for_selector("#resume:visible")
    page.click("#resume-no")
    assert page.is_hidden("#resume")
    assert stored(page) is None
    assert state(page) == "IDLE"
    assert leg.get(job_id).state is State.SPOOLED  # "no" only forgets; it does not cancel


def test_cancel_while_sending(browser_context: Any, service: Any, access_log: Any, video_file: Any,
                              shots: Any) -> None:
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    throttle_upload(browser_context, page, 10 * MIB)
    choose_and_upload(page, video_file(60 * MIB))
    wait_for(lambda: int(bar_value(page, "send") or 0) >= 5, what="some bytes sent")
    job_id = (stored(page) or {})["jobId"]
    page.click("#cancel")
    page.wait_for_selector("#result.bad")
    assert page.inner_text("#result-title") == "Cancelled"
    assert stored(page) is None
    shots(page, "cancelled")
    # The PATCH in flight was cut and the job cancelled: nothing is left to upload to Gemini.
    wait_for(lambda: leg.get(job_id).final, what="the job ended")
    assert leg.get(job_id).state is State.CANCELLED
    assert len(access_log.creations()) == 1 and access_log.posts() == []


def test_cancel_while_processing(browser_context: Any, service: Any, video_file: Any) -> None:
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    choose_and_upload(page, video_file(4 * MIB))
    wait_stage(page, "send", "done")
    job_id = (stored(page) or {})["jobId"]
    leg.processing(job_id)
    poke(page)
    wait_stage(page, "process", "active")
    page.click("#cancel")
    page.wait_for_selector("#result.bad")
    assert page.inner_text("#result-title") == "Cancelled"
    assert leg.get(job_id).state is State.CANCELLED
    assert stage_status(page, "process") == "failed"
    assert stored(page) is None


def test_failed_job_shows_its_message(browser_context: Any, service: Any, video_file: Any, shots: Any) -> None:
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    choose_and_upload(page, video_file(4 * MIB))
    wait_stage(page, "send", "done")
    job_id = (stored(page) or {})["jobId"]
    leg.processing(job_id)
    poke(page)
    wait_stage(page, "process", "active")
    leg.fail(job_id, "gemini_processing_failed", "Gemini could not process this video: unsupported codec.")
    poke(page)
    page.wait_for_selector("#result.bad")
    assert page.inner_text("#result-title") == "Failed"
    assert page.inner_text("#result-text") == "Gemini could not process this video: unsupported codec."
    assert "upload it again" in page.inner_text("#result-advice")
    assert stage_status(page, "process") == "failed"
    assert stored(page) is None
    shots(page, "failed")
    page.click("#again")  # the same file, one click away, as a new attempt
    expect(page.locator("#upload")).to_be_enabled()
