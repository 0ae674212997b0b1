"""The page's resumable upload (static/resumable.js) against the real service: PATCHes with sha256 checksums, a
PATCH that fails costs only itself (HEAD, then only the missing bytes), pause and resume, and picking the file
again after a reload."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from focalpoint_upload.jobs import State
from tests.page.kit import FakeLeg, open_page, state, stored, throttle_upload, wait_for, wait_stage

MIB = 1024 * 1024


def patch_requests(page: Any) -> list[dict[str, str]]:
    """The headers of every PATCH the page sends (before any route sees it)."""
    seen: list[dict[str, str]] = []
    page.on("request", lambda r: seen.append(r.headers) if r.method == "PATCH" else None)
    return seen


def acked(page: Any) -> int:
    return int(page.evaluate("Number(document.body.dataset.acked || 0)"))


def ok_patches(access_log: Any, job_id: str) -> list[dict[str, Any]]:
    return [p for p in access_log.patches(job_id) if p["status"] == 204]


def assert_each_byte_once(access_log: Any, job_id: str, size: int) -> None:
    """The 204 PATCHes the service saw tile the file exactly: every offset once, no byte twice. (An access
    line's ``offset`` is the upload's offset after that request.)"""
    spans = sorted((p["offset"] - p["bytesReceived"], p["bytesReceived"]) for p in ok_patches(access_log, job_id))
    at = 0
    for offset, n in spans:
        assert offset == at, f"PATCHes {spans} do not tile the file"
        at += n
    assert at == size


def test_chunked_with_checksums(browser_context: Any, service: Any, access_log: Any, video_file: Any) -> None:
    page = open_page(browser_context, service)
    sent = patch_requests(page)
    throttle_upload(browser_context, page, 4 * MIB)
    path = video_file(24 * MIB)
    page.set_input_files("#file", str(path))
    page.click("#upload")
    wait_stage(page, "send", "done", timeout=30_000)
    rec = stored(page) or {}
    job = FakeLeg(service).get(rec["jobId"])
    assert job.state is State.SPOOLED and job.bytes_received == 24 * MIB
    assert job.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    chunks = page.evaluate("window.focalpointChunks")
    sizes = [c["size"] for c in chunks]
    assert sizes[0] == MIB and max(sizes) > MIB and len(sizes) >= 3  # starts small, grows with the speed
    data = path.read_bytes()
    for headers, c in zip(sent, chunks, strict=True):
        piece = data[c["offset"]: c["offset"] + c["size"]]
        assert headers["upload-checksum"] == "sha256 " + base64.b64encode(hashlib.sha256(piece).digest()).decode()
        assert headers["x-attempt-id"] == rec["attemptId"]
    assert_each_byte_once(access_log, rec["jobId"], 24 * MIB)
    assert page.errors == []


def test_failed_patches_resume_from_head(browser_context: Any, make_service: Any, access_log: Any,
                                         video_file: Any) -> None:
    """PATCH 3 is reset before it reaches the service; PATCH 5 reaches it but its answer is lost behind a 503.
    The page HEADs each time: it sends PATCH 3's bytes again, and PATCH 5's not at all. The service allows
    4 MiB PATCHes: the page never sends a larger one."""
    service = make_service(max_append_bytes=4 * MIB)
    page = open_page(browser_context, service)
    heads: list[int] = []
    patches: list[int] = []

    def trouble(route: Any) -> None:
        method = route.request.method
        if method == "HEAD":
            heads.append(len(patches))
        if method != "PATCH":
            route.continue_()
            return
        patches.append(int(route.request.headers["upload-offset"]))
        if len(patches) == 3:
            route.abort("connectionreset")
        elif len(patches) == 5:
            route.fetch()  # the service gets it all and answers 204 ...
            route.fulfill(status=503, headers={"Content-Type": "application/json"},  # ... a proxy loses it
                          body='{"error":{"code":"unavailable","message":"Bad gateway."}}')
        else:
            route.continue_()

    page.route("**/api/uploads/*", trouble)
    throttle_upload(browser_context, page, 8 * MIB)
    size = 40 * MIB
    page.set_input_files("#file", str(video_file(size)))
    page.click("#upload")
    wait_stage(page, "send", "done", timeout=60_000)
    rec = stored(page) or {}
    assert len(patches) >= 8
    assert max(c["size"] for c in page.evaluate("window.focalpointChunks")) == 4 * MIB
    assert patches[3] == patches[2]  # the reset PATCH's bytes again: the service never had them
    assert patches[5] > patches[4]  # the lost answer's bytes are not sent again: HEAD said it had them
    assert heads == [0, 3, 5]  # one HEAD to start, one after each failure
    assert_each_byte_once(access_log, rec["jobId"], size)
    assert FakeLeg(service).get(rec["jobId"]).state is State.SPOOLED
    assert page.errors == []


# Counts the PATCHes the page sends, inside the page (window.__patchesSent): exact when read.
COUNT_PATCHES = """(() => {
    const open = XMLHttpRequest.prototype.open;
    window.__patchesSent = 0;
    XMLHttpRequest.prototype.open = function (method, ...rest) {
        if (method === 'PATCH') window.__patchesSent += 1;
        return open.call(this, method, ...rest);
    };
})()"""


def patches_sent(page: Any) -> int:
    return int(page.evaluate("window.__patchesSent"))


def test_pause_and_resume(browser_context: Any, service: Any, access_log: Any, video_file: Any) -> None:
    page = browser_context.new_page()
    page.clock.install()  # so "nothing happens while paused" is checked by running page time on, not by sleeping
    page.add_init_script(COUNT_PATCHES)
    page = open_page(browser_context, service, page)
    throttle_upload(browser_context, page, 2 * MIB)
    size = 12 * MIB
    page.set_input_files("#file", str(video_file(size)))
    page.click("#upload")
    wait_for(lambda: acked(page) >= MIB, what="a first PATCH answered", page=page)
    page.click("#pause")
    assert state(page) == "PAUSED"
    assert page.inner_text("#pause") == "Resume"
    held = acked(page)
    job_id = (stored(page) or {})["jobId"]
    sent = patches_sent(page)
    page.clock.run_for(60_000)  # a minute of page time: no back-off or retry timer wakes the paused upload
    assert patches_sent(page) == sent and acked(page) == held and held < size
    wait_for(lambda: len(access_log.patches(job_id)) == sent, what="every PATCH sent ended at the service (the cut "
             "one as 499)", page=page)
    assert FakeLeg(service).get(job_id).bytes_received == held  # the cut PATCH's bytes were not kept
    page.click("#pause")
    wait_stage(page, "send", "done", timeout=30_000)
    assert_each_byte_once(access_log, job_id, size)
    assert len(access_log.creations()) == 1
    assert page.errors == []


def test_refresh_then_pick_the_same_file(browser_context: Any, service: Any, access_log: Any, video_file: Any,
                                         tmp_path: Path, shots: Any) -> None:
    page = open_page(browser_context, service)
    throttle_upload(browser_context, page, 2 * MIB)
    size = 16 * MIB
    path = video_file(size)
    page.set_input_files("#file", str(path))
    page.click("#upload")
    wait_for(lambda: acked(page) >= 2 * MIB, what="some PATCHes answered", page=page)
    rec = stored(page) or {}
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#resume-pick:visible")
    assert "Choose the same file again" in page.inner_text("#resume")
    assert page.is_hidden("#resume-yes")
    shots(page, "pick-again")
    had = FakeLeg(service).get(rec["jobId"]).bytes_received
    assert 2 * MIB <= had < size

    other = tmp_path / "other" / "clip.mp4"  # same name and size, other bytes
    other.parent.mkdir()
    other.write_bytes(b"\0" * size)
    page.set_input_files("#resume-file", str(other))
    page.wait_for_selector("#resume-error:visible")
    assert "clip.mp4" in page.inner_text("#resume-error")
    assert state(page) == "RESUME_OFFER"

    page.set_input_files("#resume-file", str(path))
    wait_stage(page, "send", "done", timeout=30_000)
    assert (stored(page) or {})["jobId"] == rec["jobId"]
    assert_each_byte_once(access_log, rec["jobId"], size)
    assert min(c["offset"] for c in page.evaluate("window.focalpointChunks")) >= had  # carried on, not restarted
    job = FakeLeg(service).get(rec["jobId"])
    assert job.state is State.SPOOLED and job.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(access_log.creations()) == 1
    assert page.errors == []


def test_refresh_then_forget_cancels_the_incomplete_upload(browser_context: Any, service: Any,
                                                           video_file: Any) -> None:
    """Only this browser can finish an incomplete upload: "No, forget it" cancels it (its partial file goes now,
    not at expiry)."""
    page = open_page(browser_context, service)
    throttle_upload(browser_context, page, 2 * MIB)
    page.set_input_files("#file", str(video_file(16 * MIB)))
    page.click("#upload")
    wait_for(lambda: acked(page) >= MIB, what="a PATCH answered", page=page)
    job_id = (stored(page) or {})["jobId"]
    page.reload()
    page.wait_for_selector("#resume-pick:visible")
    page.click("#resume-no")
    assert stored(page) is None and state(page) == "IDLE"
    leg = FakeLeg(service)
    wait_for(lambda: leg.get(job_id).state is State.CANCELLED, what="the upload cancelled", page=page)
    assert page.errors == []
