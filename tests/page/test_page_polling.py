"""How far the page lags behind the job, measured on the page's own clock, which the test drives (Playwright's
clock: timers and Date run only when the test says so, fetches are real). And the emulator notice."""

from __future__ import annotations

from typing import Any

from focalpoint_upload.jobs import State
from tests.page.kit import FakeLeg, bar_value, choose_and_upload, open_page, stage_status, stored, wait_for

STEP_MS = 100
LAG_MS = 2000


class PageClock:
    """Moves the page's clock in steps of STEP_MS; after each step waits (in real time) until no status request
    is in flight, so that a poll's answer is on the page before its fake time moves on."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.inflight: set[Any] = set()  # requests seen leaving (one sent before we listened is not counted)
        self.polls: list[int] = []  # fake time (ms since pause) of every status request
        self.now = 0
        page.on("request", self._sent)
        page.on("requestfinished", self._done)
        page.on("requestfailed", self._done)
        page.clock.pause_at((page.evaluate("Date.now()") + 1000) / 1000)  # a number is seconds since the epoch

    def _sent(self, request: Any) -> None:
        if "/api/upload/status" in request.url:
            self.inflight.add(request)
            self.polls.append(self.now)

    def _done(self, request: Any) -> None:
        self.inflight.discard(request)

    def step(self) -> None:
        self.page.clock.run_for(STEP_MS)
        self.now += STEP_MS
        wait_for(lambda: not self.inflight, what="the status answer", page=self.page)

    def lag(self, shown: Any, limit_ms: int = 10 * LAG_MS) -> int:
        """Fake ms until ``shown()`` is true (a change was made just before the call)."""
        start = self.now
        while not shown():
            assert self.now - start < limit_ms, "the page never showed the change"
            self.step()
        return self.now - start

    def idle(self, ms: int) -> None:
        end = self.now + ms
        while self.now < end:
            self.step()


def test_the_page_shows_every_change_of_a_moving_job_within_2_s(browser_context: Any, service: Any,
                                                                 video_file: Any) -> None:
    leg = FakeLeg(service)
    page = browser_context.new_page()
    page.clock.install()
    page = open_page(browser_context, service, page)
    choose_and_upload(page, video_file(4 * 1024 * 1024))
    wait_for(lambda: stage_status(page, "send") == "done", what="the upload", page=page)
    rec = stored(page)
    assert rec is not None
    job_id = rec["jobId"]
    clock = PageClock(page)
    clock.idle(3000)  # SPOOLED, nothing happening yet

    lags = []
    leg.uploading(job_id, 1024 * 1024)
    lags.append(clock.lag(lambda: bar_value(page, "gemini") == "25"))
    clock.idle(4000)
    leg.uploading(job_id, 3 * 1024 * 1024)
    lags.append(clock.lag(lambda: bar_value(page, "gemini") == "75"))
    leg.processing(job_id)
    lags.append(clock.lag(lambda: stage_status(page, "process") == "active"))
    # Gemini processes for 40 s and nothing changes meanwhile: the page must not drift off ...
    clock.idle(40_000)
    since = clock.now
    leg.active(job_id, "https://generativelanguage.googleapis.com/v1beta/files/abc123")
    # ... so that "Ready" shows within 2 s of ACTIVE.
    lags.append(clock.lag(lambda: page.locator("#result.ok").count() == 1))

    assert max(lags) < LAG_MS, (lags, clock.polls)
    gaps = [b - a for a, b in zip(clock.polls, clock.polls[1:], strict=False)]
    assert gaps and max(gaps) <= 1500, gaps  # 1-1.4 s between polls (+ a step) all the way
    polls_in_processing = [t for t in clock.polls if t >= since - 40_000]
    assert len(polls_in_processing) <= 41  # and no faster than once a second: the status limit is 60/min
    assert leg.get(job_id).state is State.ACTIVE
    assert page.errors == []


def test_the_back_off_starts_only_after_a_minute_without_change(browser_context: Any, service: Any) -> None:
    page = open_page(browser_context, service)
    delays = page.evaluate("""async () => {
        const { pollDelay } = await import('/static/poller.js');
        const gap = (quietMs, random, hintMs = 1000) => pollDelay({ hintMs, quietMs, random: () => random });
        return {
            moving: [0, 30000, 60000].flatMap((q) => [gap(q, 0), gap(q, 1)]),
            quiet: [90000, 120000, 150000, 600000].map((q) => [gap(q, 0), gap(q, 1)]),
            idleHint: [gap(0, 0, 5000), gap(0, 1, 5000)],
            noHint: gap(0, 1, null),
            retryAfter: pollDelay({ hintMs: 1000, quietMs: 0, waitMs: 7000, random: () => 0 }),
        };
    }""")
    assert all(1000 <= d <= 1400 for d in delays["moving"]), delays  # lag under 2 s while the job moves
    assert [round(lo) for lo, _ in delays["quiet"]] == [7200, 9600, 12000, 12000]
    assert [round(hi) for _, hi in delays["quiet"]] == [9000, 12000, 15000, 15000]  # capped at 15 s
    assert delays["idleHint"] == [5000, 7000]  # the server's pollAfterMs for a job idle for minutes
    assert delays["noHint"] == 1400
    assert delays["retryAfter"] == 7000
    assert page.errors == []


def test_the_page_says_when_gemini_is_emulated(browser_context: Any, make_service: Any) -> None:
    real = open_page(browser_context, make_service())
    assert real.is_hidden("#emulated")
    emulated = open_page(browser_context, make_service(emulate_gemini=True))
    assert emulated.is_visible("#emulated")
    assert "Gemini is emulated" in emulated.inner_text("#emulated")
