"""``focalpoint-upload report LOGFILE...``: requests per attemptId and response times, from the JSON logs.

Reads the lines written by ``focalpoint_upload.logs`` (one JSON object per line; ``-`` is stdin, ``.gz`` files
are read compressed) and keeps the ``upload_request`` lines of ``POST /api/upload`` (``frontdoor.access``).
Lines that are not JSON objects are counted and skipped; a prefix before the first ``{`` (a container
runtime's timestamp) is tolerated.

Prints one summary line, last::

    attempts=412 requests=412 max_per_attempt=1 p99_response_ms=38 p99_duration_ms=5120 no_attempt=0 skipped_lines=0

``p99_response_ms`` is the 99th percentile (nearest rank) of ``msFromLastByte``: how long a client that had
sent its last byte waited for the answer. ``--per-attempt`` first lists the attempts with more than one
request (``--all``: every attempt); ``--max-per-attempt N`` exits 1 when an attempt has more than N requests.
Exit status: 0, 1 (over ``--max-per-attempt``), 2 (a file cannot be read).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


@dataclass
class Attempt:
    attempt_id: str
    outcomes: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    response_ms: list[float | None] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.outcomes)


@dataclass
class Report:
    attempts: dict[str, Attempt] = field(default_factory=dict)
    requests: int = 0
    no_attempt: int = 0
    skipped_lines: int = 0
    response_ms: list[float] = field(default_factory=list)
    duration_ms: list[float] = field(default_factory=list)

    def add(self, line: dict[str, Any]) -> None:
        """Count one ``upload_request`` log object."""
        self.requests += 1
        response = _number(line.get("msFromLastByte"))
        duration = _number(line.get("durationMs"))
        if response is not None:
            self.response_ms.append(response)
        if duration is not None:
            self.duration_ms.append(duration)
        attempt_id = line.get("attemptId")
        if not isinstance(attempt_id, str) or not attempt_id:
            self.no_attempt += 1
            return
        attempt = self.attempts.setdefault(attempt_id, Attempt(attempt_id))
        attempt.outcomes.append(str(line.get("outcome") or "none"))
        status = line.get("status")
        attempt.statuses.append(status if isinstance(status, int) else 0)
        attempt.response_ms.append(response)

    @property
    def max_per_attempt(self) -> int:
        return max((a.requests for a in self.attempts.values()), default=0)

    def summary(self) -> str:
        return (f"attempts={len(self.attempts)} requests={self.requests} max_per_attempt={self.max_per_attempt} "
                f"p99_response_ms={_fmt(percentile(self.response_ms, 99))} "
                f"p99_duration_ms={_fmt(percentile(self.duration_ms, 99))} "
                f"no_attempt={self.no_attempt} skipped_lines={self.skipped_lines}")


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (a value that occurred); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def build_report(lines: Iterable[str]) -> Report:
    report = Report()
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        obj = _parse(text)
        if obj is None:
            report.skipped_lines += 1
            continue
        if obj.get("event") == "upload_request" and obj.get("path", "/api/upload") == "/api/upload" \
                and obj.get("method", "POST") == "POST":
            report.add(obj)
    return report


def attempt_line(a: Attempt) -> str:
    response = ",".join("-" if ms is None else _fmt(ms) for ms in a.response_ms)
    return (f"attemptId={a.attempt_id} requests={a.requests} outcomes={','.join(a.outcomes)} "
            f"statuses={','.join(str(s) for s in a.statuses)} response_ms={response}")


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    try:
        report = build_report(_lines(args.logfile))
    except OSError as exc:
        print(f"focalpoint-upload report: {exc}", file=sys.stderr)
        return 2
    if args.per_attempt or args.all:
        chosen = [a for a in report.attempts.values() if args.all or a.requests > 1]
        for a in sorted(chosen, key=lambda a: (-a.requests, a.attempt_id)):
            print(attempt_line(a), file=out)
    print(report.summary(), file=out)
    if args.max_per_attempt is not None and report.max_per_attempt > args.max_per_attempt:
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="focalpoint-upload report", description=__doc__.split("\n\n")[0])
    p.add_argument("logfile", nargs="+", help="JSON log file(s) (FOCALPOINT_LOG_FILE); - for stdin")
    p.add_argument("--per-attempt", action="store_true", help="list the attempts with more than one request")
    p.add_argument("--all", action="store_true", help="list every attempt")
    p.add_argument("--max-per-attempt", type=int, metavar="N", help="exit 1 if an attempt has more than N requests")
    return p


def _lines(paths: list[str]) -> Iterator[str]:
    for name in paths:
        if name == "-":
            yield from sys.stdin
            continue
        path = Path(name)
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as zipped:
                yield from zipped
        else:
            with path.open(encoding="utf-8", errors="replace") as plain:
                yield from plain


def _parse(text: str) -> dict[str, Any] | None:
    for candidate in (text, text[text.find("{"):] if "{" in text else ""):
        if not candidate:
            continue
        try:
            obj = json.loads(candidate)
        except ValueError:
            continue
        return obj if isinstance(obj, dict) else None
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return str(round(value)) if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
