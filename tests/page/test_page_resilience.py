"""The page under trouble: creation retries on the same attemptId (one upload), 429s on status polls (real limiter and
injected), the ETag, and polling that pauses while the tab is hidden.

No test here sleeps to let time pass: where "nothing happens for a while" is the point, the page runs on
Playwright's fake clock (``page.clock``), which fires every timer due in a stretch of page time at once, and the
page's status calls are counted inside the page, so the count is exact when read."""

from __future__ import annotations

import itertools
import time
from typing import Any

from playwright.sync_api import expect

from tests.page.kit import FakeLeg, choose_and_upload, open_page, poke, state, stored, wait_for, wait_stage

MIB = 1024 * 1024
URI = "https://generativelanguage.googleapis.com/v1beta/files/abc123"


def watch_status(page: Any) -> list[tuple[float, int]]:
    """(start time in s, status) of every status poll, timed by the browser (events reach us late)."""
    seen: list[tuple[float, int]] = []

    def on_response(r: Any) -> None:
        if "/api/upload/status" in r.url and "jobId=" in r.url:
            seen.append((r.request.timing["startTime"] / 1000, r.status))

    page.on("response", on_response)
    return seen


# Counts the page's status calls inside the page (window.__statusCalls), before any network: exact when read.
COUNT_STATUS_CALLS = """(() => {
    const real = window.fetch;
    window.__statusCalls = 0;
    window.fetch = (input, init) => {
        if (String(input).includes('/api/upload/status')) window.__statusCalls += 1;
        return real(input, init);
    };
})()"""


def open_on_fake_clock(ctx: Any, svc: Any) -> Any:
    """The page with Playwright's clock installed (time flows until a test runs it forward) and its status
    calls counted."""
    page = ctx.new_page()
    page.clock.install()
    page.add_init_script(COUNT_STATUS_CALLS)
    return open_page(ctx, svc, page)


def status_calls(page: Any) -> int:
    return int(page.evaluate("window.__statusCalls"))


def watch_failures(page: Any) -> list[tuple[str, str, int | None]]:
    """(method, failure, status of the response if one came) of every request Chromium reports as failed."""
    failed: list[tuple[str, str, int | None]] = []

    def on_failed(r: Any) -> None:
        response = r.response()
        failed.append((r.method, r.failure, response.status if response else None))

    page.on("requestfailed", on_failed)
    return failed


def creations_only(handler: Any) -> Any:
    """A route handler for ``/api/uploads`` that lets everything but the creation POST through untouched."""
    def route(r: Any) -> None:
        if r.request.method == "POST":
            handler(r)
        else:
            r.continue_()
    return route


def test_network_error_retries_with_the_same_attempt(browser_context: Any, service: Any, access_log: Any,
                                                     video_file: Any) -> None:
    page = open_page(browser_context, service)
    sent: list[str] = []

    def flaky(route: Any) -> None:
        sent.append(route.request.headers["x-attempt-id"])
        if len(sent) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/uploads", creations_only(flaky))
    choose_and_upload(page, video_file(3 * MIB))
    wait_stage(page, "send", "done", timeout=30_000)
    attempt_id = (stored(page) or {})["attemptId"]
    assert sent == [attempt_id, attempt_id]
    assert [c["status"] for c in access_log.creations()] == [201]  # the first never reached the server


def test_429_on_the_creation_waits_for_retry_after(browser_context: Any, service: Any, access_log: Any,
                                                   video_file: Any) -> None:
    page = open_page(browser_context, service)
    times: list[float] = []

    def busy_once(route: Any) -> None:
        times.append(time.monotonic())
        if len(times) == 1:
            route.fulfill(status=429, headers={"Retry-After": "1", "Content-Type": "application/json"},
                          body='{"error":{"code":"rate_limited","message":"Too many upload requests; retry in 1 s."}}')
        else:
            route.continue_()

    page.route("**/api/uploads", creations_only(busy_once))
    choose_and_upload(page, video_file(2 * MIB))
    expect(page.locator("#note")).to_contain_text("FocalPoint is busy")
    wait_stage(page, "send", "done")
    assert len(times) == 2 and times[1] - times[0] >= 0.95
    assert len(access_log.creations()) == 1


def test_lost_creation_answer_maps_to_the_same_upload(browser_context: Any, service: Any, access_log: Any,
                                                     video_file: Any) -> None:
    """The first creation's answer is lost behind a 503 (as from a proxy); creating the same attempt again
    answers that upload's Location: one job, its bytes sent once."""
    page = open_page(browser_context, service)
    answers: list[tuple[int, str | None]] = []

    def lose_first_answer(route: Any) -> None:
        real = route.fetch()
        answers.append((real.status, real.headers.get("location")))
        if len(answers) == 1:
            route.fulfill(status=503, headers={"Retry-After": "1", "Content-Type": "application/json"},
                          body='{"error":{"code":"unavailable","message":"Bad gateway."}}')
        else:
            route.fulfill(response=real)

    page.route("**/api/uploads", creations_only(lose_first_answer))
    choose_and_upload(page, video_file(2 * MIB))
    wait_stage(page, "send", "done")
    rec = stored(page) or {}
    assert [a[0] for a in answers] == [201, 201] and answers[0][1] == answers[1][1]
    assert answers[0][1] is not None and answers[0][1].endswith("/" + rec["jobId"])
    assert sum(p["bytesReceived"] for p in access_log.patches(rec["jobId"])) == 2 * MIB
    assert FakeLeg(service).job_of(rec["attemptId"]).job_id == rec["jobId"]
    assert state(page) == "TRACKING"


def test_status_429_slows_polling_without_breaking(browser_context: Any, service: Any, video_file: Any,
                                                   shots: Any) -> None:
    leg = FakeLeg(service)
    page = open_page(browser_context, service)
    limited = {"left": 2}

    def limit(route: Any) -> None:
        if limited["left"] > 0:
            limited["left"] -= 1
            route.fulfill(status=429, headers={"Retry-After": "2", "Content-Type": "application/json"},
                          body='{"error":{"code":"rate_limited","message":"Too many status requests."}}')
        else:
            route.continue_()

    page.route("**/api/upload/status*", limit)
    seen = watch_status(page)
    choose_and_upload(page, video_file(2 * MIB))
    wait_stage(page, "send", "done")
    expect(page.locator("#note")).to_contain_text("slow down")
    shots(page, "status-429")
    for _ in range(10):
        poke(page)  # 'online' must not jump the server's Retry-After (the gaps below would show it)
    wait_for(lambda: any(s == 200 for _, s in seen), timeout=15, what="a successful poll after the 429s",
             page=page)
    times = [t for t, s in seen]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert [s for _, s in seen][:3] == [429, 429, 200]
    assert all(g >= 1.9 for g in gaps[:2]), gaps
    assert page.is_hidden("#result")
    leg.active((stored(page) or {})["jobId"], URI)
    poke(page)
    page.wait_for_selector("#result.ok")
    assert page.errors == []


def test_real_status_limit_slows_polling(browser_context: Any, make_service: Any, video_file: Any) -> None:
    svc = make_service(limit_status_per_ip="5/minute")
    page = open_on_fake_clock(browser_context, svc)
    seen = watch_status(page)
    retry_after: list[str] = []
    page.on("response", lambda r: retry_after.append(r.headers.get("retry-after", ""))
            if "/api/upload/status" in r.url and r.status == 429 else None)
    choose_and_upload(page, video_file(2 * MIB))
    wait_stage(page, "send", "done")

    def limited() -> bool:
        poke(page)  # poll at once, again and again, until the real limiter says no
        return any(s == 429 for _, s in seen)

    wait_for(limited, timeout=15, what="a 429 from the real limiter", page=page)
    expect(page.locator("#note")).to_contain_text("slow down")  # the page has taken the 429 in
    wait = float(retry_after[0])
    assert wait >= 1
    before = status_calls(page)
    for _ in range(10):  # the page must not hammer the limiter, whatever happens
        poke(page)
    page.clock.run_for(int(wait * 1000 / 2))  # every timer due in the first half of the wait fires now
    assert status_calls(page) == before
    page.clock.run_for(int(wait * 1000))
    wait_for(lambda: status_calls(page) > before, timeout=5, what="a poll once Retry-After has passed", page=page)
    assert state(page) == "TRACKING"
    assert page.is_hidden("#result")
    assert page.errors == []


def test_polling_pauses_while_hidden_and_uses_etag(browser_context: Any, service: Any, video_file: Any) -> None:
    leg = FakeLeg(service)
    page = open_on_fake_clock(browser_context, service)
    seen = watch_status(page)
    failed = watch_failures(page)
    choose_and_upload(page, video_file(2 * MIB))
    wait_stage(page, "send", "done")
    wait_for(lambda: len(seen) >= 3, timeout=10, what="three polls", page=page)
    statuses = [s for _, s in seen]
    assert statuses[0] == 200 and 304 in statuses  # unchanged documents come back as 304
    # Chromium reports each fetch answered 304 as a failed request (net::ERR_ABORTED) although the page got its
    # 304: the one "aborted" status poll of the Vite test (issue 13). Nothing else failed, and the page saw no
    # trouble (it says so in #note when a poll fails).
    wait_for(lambda: len(failed) >= statuses.count(304), what="a failure report per 304", page=page)
    assert failed and all(f == ("GET", "net::ERR_ABORTED", 304) for f in failed), failed
    assert page.is_hidden("#note")
    first_gaps = [b[0] - a[0] for a, b in itertools.pairwise(seen)][:2]
    # 1-2 s while the document is new, then full-jitter backoff (ceiling doubling) while nothing changes.
    assert 0.9 <= first_gaps[0] <= 2.2 and 0.9 <= first_gaps[1] <= 4.2, first_gaps

    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    hidden_from = status_calls(page)  # a poll already in flight is counted: it started while visible
    page.clock.run_for(60_000)  # a minute of page time: every poll timer due in it fires now
    assert status_calls(page) == hidden_from

    leg.uploading((stored(page) or {})["jobId"], MIB)
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    wait_for(lambda: status_calls(page) > hidden_from, timeout=1.5, what="a poll at once on becoming visible",
             page=page)
    wait_for(lambda: page.get_attribute('[data-stage="gemini"] .bar', "aria-valuenow") == "50", timeout=5,
             what="the new progress", page=page)
