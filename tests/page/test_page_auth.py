"""The page with auth on, in a real Chromium: it takes its token from the <meta> FocalPoint's app injects or
from the URL fragment, and sends it on every request (config, upload, status, cancel)."""

from __future__ import annotations

import time
from typing import Any

from focalpoint_upload.frontdoor.auth import mint
from focalpoint_upload.jobs import State
from tests.page.kit import FakeLeg, choose_and_upload, poke, stored, wait_stage

MIB = 1024 * 1024
SECRET = "page-test-secret-" + "p" * 32
URI = "https://generativelanguage.googleapis.com/v1beta/files/abc123"


def goto(ctx: Any, url: str, meta_token: str | None = None) -> Any:
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    if meta_token is not None:  # as FocalPoint's app does: the token in the page's <head>
        def inject(route: Any) -> None:
            response = route.fetch()
            html = response.text().replace(
                "<head>", f'<head>\n  <meta name="focalpoint-upload-token" content="{meta_token}">', 1)
            route.fulfill(response=response, body=html)

        page.route(url, inject)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    return page


def test_the_meta_token_goes_with_every_request(browser_context: Any, make_service: Any, access_log: Any,
                                               video_file: Any) -> None:
    svc = make_service(auth_secret=SECRET)
    leg = FakeLeg(svc)
    token = mint(SECRET, "alice", 600, time.time(), max_bytes=6 * MIB)
    page = goto(browser_context, svc.base_url + "/", meta_token=token)
    assert "6.0 MB" in page.inner_text("#limits")  # config was asked with the token: its own cap shows

    choose_and_upload(page, video_file(4 * MIB))
    wait_stage(page, "send", "done")
    job_id = (stored(page) or {})["jobId"]
    assert leg.get(job_id).owner == "u:alice"
    leg.processing(job_id)
    poke(page)
    wait_stage(page, "process", "active")  # status polls carry the token too
    page.click("#cancel")
    page.wait_for_selector("#result.bad")
    assert leg.get(job_id).state is State.CANCELLED
    statuses = [line["status"] for line in access_log.lines if str(line.get("path", "")).startswith("/api/")]
    assert 401 not in statuses
    assert page.errors == []


def test_the_fragment_token_is_used_when_there_is_no_meta(browser_context: Any, make_service: Any,
                                                          video_file: Any) -> None:
    svc = make_service(auth_secret=SECRET)
    leg = FakeLeg(svc)
    page = goto(browser_context, svc.base_url + "/#token=" + mint(SECRET, "bob", 600, time.time()))
    choose_and_upload(page, video_file(2 * MIB))
    wait_stage(page, "send", "done")
    job_id = (stored(page) or {})["jobId"]
    assert leg.get(job_id).owner == "u:bob"
    leg.active(job_id, URI)
    poke(page)
    page.wait_for_selector("#result.ok")
    assert page.errors == []


def test_without_a_token_the_page_says_what_to_do(browser_context: Any, make_service: Any, video_file: Any) -> None:
    svc = make_service(auth_secret=SECRET)
    page = goto(browser_context, svc.base_url + "/")
    choose_and_upload(page, video_file(1 * MIB))
    page.wait_for_selector("#result.bad")
    assert "Open this page from FocalPoint again" in page.inner_text("#result")
    assert svc.store.open_jobs() == []  # nothing was accepted
