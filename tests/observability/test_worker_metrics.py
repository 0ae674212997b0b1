"""Gemini call counters against the emulator; actor metrics on a real Worker; the worker's metrics port."""

from __future__ import annotations

import urllib.request

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from prometheus_client.parser import text_string_to_metric_families

from focalpoint_upload.gemini.emulator import EmulatorServer
from focalpoint_upload.gemini.errors import GeminiPermanent, GeminiTransient
from focalpoint_upload.observability.gemini_calls import CountedGeminiFiles, CountedResumableClient
from focalpoint_upload.observability.metrics import Metrics
from focalpoint_upload.observability.worker_metrics import add_actor_metrics, serve_metrics


def calls(m: Metrics, op: str, outcome: str) -> float:
    return m.gemini_calls.labels(op, outcome)._value.get()


def test_gemini_calls_by_op_and_outcome(emulator: EmulatorServer) -> None:
    m = Metrics()
    client = CountedResumableClient(m, api_key=emulator.api_key, base_url=emulator.base_url)
    files = CountedGeminiFiles(m, api_key=emulator.api_key, base_url=emulator.base_url)
    try:
        session = client.start(1000, "video/mp4", "clip.mp4")
        assert client.query(session.url).size_received == 0
        result = client.upload_chunk(session.url, 0, b"x" * 1000, finalize=True)
        assert result.file is not None
        files.get(result.file.name)
        with pytest.raises(GeminiPermanent):
            files.get("files/doesnotexist")
        files.delete(result.file.name)
        files.delete(result.file.name, missing_ok=True)  # gone already: ok, as the client reports it
        with pytest.raises(GeminiPermanent):
            client.query(session.url)  # the session is finished: SessionGone counts as permanent
        dead = CountedResumableClient(m, api_key="k", base_url="http://127.0.0.1:9", timeout_s=2)
        with pytest.raises(GeminiTransient):
            dead.start(10, "video/mp4")
        dead.close()
    finally:
        client.close()
        files.close()
    assert calls(m, "start", "ok") == 1 and calls(m, "chunk", "ok") == 1
    assert calls(m, "query", "ok") == 1 and calls(m, "query", "permanent") == 1
    assert calls(m, "get", "ok") == 1 and calls(m, "get", "permanent") == 1
    assert calls(m, "delete", "ok") == 2 and calls(m, "start", "transient") == 1
    assert m.gemini_call_duration.labels("chunk")._sum.get() > 0


def test_actor_metrics_on_a_worker() -> None:
    m = Metrics()
    broker = StubBroker()
    broker.emit_after("process_boot")
    add_actor_metrics(broker, m)

    def fine(n: int) -> None:
        pass

    def broken(n: int) -> None:
        raise ValueError(n)

    ok_actor = dramatiq.Actor(fine, broker=broker, actor_name="fine", queue_name="q", priority=0, options={})
    bad_actor = dramatiq.Actor(broken, broker=broker, actor_name="broken", queue_name="q", priority=0,
                               options={"max_retries": 0})
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        for n in range(3):
            ok_actor.send(n)
        bad_actor.send(9)
        broker.join("q", timeout=10_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    assert m.actor_messages.labels("fine", "ok")._value.get() == 3
    assert m.actor_messages.labels("broken", "error")._value.get() == 1
    assert m.actor_inprogress.labels("fine")._value.get() == 0
    # Three messages were timed (a count that stays 0 would mean the durations were never observed).
    assert sum(s.value for metric in m.actor_duration.collect() for s in metric.samples
               if s.name.endswith("_count") and s.labels.get("actor_name", s.labels.get("actor")) == "fine") == 3


def test_serve_metrics_on_its_own_port() -> None:
    m = Metrics()
    m.job_failed("PROCESSING", "processing_timeout")
    port, stop = serve_metrics(m, "127.0.0.1", 0)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        stop()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(body) for s in f.samples}
    assert samples[("focalpoint_jobs_failed_total", (("code", "processing_timeout"), ("stage", "processing")))] == 1
