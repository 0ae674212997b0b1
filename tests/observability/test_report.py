"""``report`` over logs written by the real service, and over synthetic and damaged lines."""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from focalpoint_upload.logs import JsonFormatter
from focalpoint_upload.observability.metrics import Metrics
from focalpoint_upload.observability.report import build_report, main, percentile
from tests.helpers.http import attempt_id, request, upload_raw
from tests.helpers.service import RunningService
from tests.observability.conftest import make_settings


def run(argv: list[str]) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue().splitlines()


def line(attempt: str | None, outcome: str, status: int, ms: float | None, duration: float = 100.0) -> str:
    return json.dumps({"ts": "2026-01-01T00:00:00.000+00:00", "level": "info", "logger": "focalpoint.access",
                       "event": "upload_request", "attemptId": attempt, "method": "POST", "path": "/api/upload",
                       "status": status, "outcome": outcome, "durationMs": duration, "msFromLastByte": ms})


@pytest.fixture
def access_log(tmp_path: Path) -> Iterator[Path]:
    """The access logger's lines, as JSON, in a file (what FOCALPOINT_LOG_FILE holds)."""
    path = tmp_path / "access.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("focalpoint.access")
    old = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield path
    logger.removeHandler(handler)
    logger.setLevel(old)
    handler.close()


def test_report_on_the_real_service(tmp_path: Path, redis_url: str, namespace: str, access_log: Path) -> None:
    svc = RunningService(make_settings(tmp_path, redis_url, namespace))
    try:
        twice, once = attempt_id(), attempt_id()
        assert upload_raw(svc.port, 300_000, twice).status == 202
        assert upload_raw(svc.port, 300_000, twice).status == 200  # the browser's retry: replayed
        assert upload_raw(svc.port, 100_000, once).status == 202
        assert request(svc.port, "POST", "/api/upload", {"Content-Type": "video/mp4"}, b"x" * 10).status == 400
        assert request(svc.port, "GET", "/api/upload/config").status == 200  # not an upload request
    finally:
        svc.stop()
    code, out = run([str(access_log), "--per-attempt"])
    assert code == 0
    assert len(out) == 2
    assert out[0].startswith(f"attemptId={twice} requests=2 outcomes=accepted,replayed statuses=202,200 ")
    summary = dict(kv.split("=") for kv in out[-1].split())
    assert summary["attempts"] == "2" and summary["requests"] == "4" and summary["max_per_attempt"] == "2"
    assert summary["no_attempt"] == "1" and summary["skipped_lines"] == "0"
    assert float(summary["p99_response_ms"]) < 5000
    assert run([str(access_log), "--max-per-attempt", "1"])[0] == 1

    m = Metrics()  # the same real lines through the metrics mapping
    for raw in access_log.read_text().splitlines():
        m.access_line(json.loads(raw))
    assert m.upload_requests.labels("202", "accepted")._value.get() == 2
    assert m.upload_requests.labels("200", "replayed")._value.get() == 1
    assert m.upload_requests.labels("400", "refused")._value.get() == 1
    assert m.upload_file_bytes._sum.get() == 400_000


def test_damaged_and_foreign_lines(tmp_path: Path) -> None:
    lines = [
        line("a1", "accepted", 202, 12.0),
        "not json at all",
        '{"truncated": ',
        "[1, 2, 3]",
        "2026-01-01T00:00:00Z stdout F " + line("a2", "accepted", 202, 30.0),  # a container runtime's prefix
        json.dumps({"event": "job_active", "jobId": "j"}),
        json.dumps({"event": "upload_request", "path": "/api/upload/status", "attemptId": "a1"}),
        "",
        line("a1", "conflict", 409, 1.0),
        line("a1", "replayed", 200, 2.0),
    ]
    path = tmp_path / "mixed.log.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    code, out = run([str(path), "--all"])
    assert code == 0
    assert out[0].startswith("attemptId=a1 requests=3 outcomes=accepted,conflict,replayed statuses=202,409,200 "
                             "response_ms=12,1,2")
    assert out[1].startswith("attemptId=a2 requests=1")
    assert out[-1] == ("attempts=2 requests=4 max_per_attempt=3 p99_response_ms=30 p99_duration_ms=100 "
                       "no_attempt=0 skipped_lines=3")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert run([str(empty)]) == (0, ["attempts=0 requests=0 max_per_attempt=0 p99_response_ms=- "
                                     "p99_duration_ms=- no_attempt=0 skipped_lines=0"])
    assert run([str(tmp_path / "nope.log")])[0] == 2


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99 and percentile(values, 100) == 100 and percentile([7.0], 99) == 7
    assert percentile([], 99) is None
    assert build_report([line("x", "accepted", 202, None)]).response_ms == []
