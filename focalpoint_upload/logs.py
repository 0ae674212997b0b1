"""Structured (one JSON object per line) logging for every process of the service.

Log with ``logger.info("event_name", extra={"fields": {...}})``: the fields become top-level keys of the JSON
line, beside ``ts``, ``level``, ``logger`` and ``event``. ``focalpoint-upload report`` reads these lines back.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from focalpoint_upload.observability.scrub import LogScrubber, Scrubber, install_log_scrubbing


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # a scrubbed traceback (observability.scrub.LogScrubber)
            line["exc"] = record.exc_text
        return json.dumps(line, default=str, separators=(",", ":"))


def setup_logging(level: str, log_file: Path | None) -> None:
    """Send every log record, as JSON, to stderr and (if given) appended to ``log_file``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_focalpoint", False):
            root.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    net = LogScrubber(Scrubber())  # whatever logger a line comes from, no session URL or key reaches a file
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
        handler.addFilter(net)
        handler._focalpoint = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # Tornado's own access log duplicates ours with less information.
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    # The HTTP client logs every request (every upload chunk, with its session URL) at INFO: scrub at the source
    # and keep that traffic at DEBUG.
    install_log_scrubbing()
