"""Removing secrets from anything bound for Sentry or a log.

What counts as a secret here: the Gemini API key (and any other literal passed in), upload session URLs
(``upload_id=`` values), ``key=`` query parameters, and the values of the ``x-goog-api-key`` and
``X-Goog-Upload-URL`` headers, in whatever shape they appear: a URL in a message, a header line in an
exception text, a ``{"x-goog-api-key": ...}`` mapping in request headers or frame variables, a repr of the
settings object.

:class:`Scrubber` walks a whole (already serialized, JSON-shaped) Sentry event: every string is rewritten, and
every mapping value whose key names a secret is replaced outright. It never raises on odd shapes: it leaves
non-string leaves alone. :class:`LogScrubber` applies it to log records, on the loggers of the libraries that
write URLs (see :func:`install_log_scrubbing`) and on the service's own log handlers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

FILTERED = "[Filtered]"

# Mapping keys whose values are secrets whatever they hold (compared lower-cased, "-" and "_" alike).
SECRET_KEYS: frozenset[str] = frozenset({
    "x_goog_api_key", "x_goog_upload_url", "key", "api_key", "apikey", "gemini_api_key", "upload_id",
    "upload_url", "gemini_upload_url", "session_url", "authorization", "proxy_authorization", "cookie",
    "set_cookie",
})

# A query parameter (after ?, &, ; or at a word start) named key or upload_id: its value goes.
_QUERY = re.compile(r"(?i)((?:^|[?&;\s\"'(\[{,])(?:key|upload_id|api_key)=)(?!\[Filtered\])[^&\s\"'#<>),\]}]+")
# A header written as text: "x-goog-api-key: v", "'X-Goog-Upload-URL': 'v'", "x-goog-api-key=v", and the
# HTTP transport's byte pairs "(b'X-Goog-Upload-URL', b'v')".
_HEADER = re.compile(
    r"(?i)((?:x-goog-api-key|x-goog-upload-url|x_goog_api_key|x_goog_upload_url)[\"']?\s*[:=,]\s*b?[\"']?)"
    r"(?!\[Filtered\])[^\s\"',}\]]+")
# An API-key-looking token (Google keys start with AIza and are 39 characters long).
_GOOGLE_KEY = re.compile(r"AIza[0-9A-Za-z_\-]{35}")


def _norm(key: str) -> str:
    return key.strip().lower().replace("-", "_")


class Scrubber:
    """Rewrites strings and JSON-shaped values so that no secret survives.

    ``secrets``: literal values to remove wherever they occur (the Gemini API key); empty and very short
    values (under 6 characters) are ignored, since replacing them would mangle ordinary text.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        literal = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self._literal = re.compile("|".join(re.escape(s) for s in literal)) if literal else None

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by ``[Filtered]``."""
        if self._literal is not None:
            value = self._literal.sub(FILTERED, value)
        value = _QUERY.sub(lambda m: m.group(1) + FILTERED, value)
        value = _HEADER.sub(lambda m: m.group(1) + FILTERED, value)
        return _GOOGLE_KEY.sub(FILTERED, value)

    def value(self, value: Any) -> Any:
        """A scrubbed copy of a JSON-shaped value (dicts, lists, tuples, strings; other leaves unchanged)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                key = self.text(k) if isinstance(k, str) else k
                if isinstance(k, str) and _norm(k) in SECRET_KEYS and v not in (None, "", [], {}):
                    out[key] = FILTERED
                else:
                    out[key] = self.value(v)
            return out
        if isinstance(value, list | tuple):
            items = [self.value(v) for v in value]
            # Header lists: [["x-goog-api-key", "v"], ...]
            if len(items) == 2 and isinstance(items[0], str) and _norm(items[0]) in SECRET_KEYS:
                items[1] = FILTERED
            return items if isinstance(value, list) else tuple(items)
        return value

    def event(self, event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sentry ``before_send`` / ``before_send_transaction`` shape: the whole event, scrubbed."""
        scrubbed = self.value(event)
        assert isinstance(scrubbed, dict)
        return scrubbed

    def breadcrumb(self, crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sentry ``before_breadcrumb`` shape (breadcrumbs are scrubbed again with the event)."""
        return self.event(crumb, hint)


# Third-party loggers that write request URLs (and so upload session URLs) into their lines. The HTTP client
# logs one INFO line per request, i.e. per chunk: that is traffic, not news, so it is demoted to DEBUG.
HTTP_CLIENT_LOGGERS: tuple[str, ...] = ("httpx2", "httpx")
URL_LOGGERS: tuple[str, ...] = (*HTTP_CLIENT_LOGGERS, "google_genai", "tornado.access", "tornado.general")
# The HTTP transport's wire traces (DEBUG only, from child loggers such as "httpcore2.http11", which a filter on
# the parent would not see) print every header, the session URL included: they stay off.
WIRE_TRACE_LOGGERS: tuple[str, ...] = ("httpcore", "httpcore2", "hpack")


class LogScrubber(logging.Filter):
    """A logging filter that rewrites a record so that no secret survives in it (message, fields, traceback).

    Attached to a logger it works at the source: handlers, Sentry's logging integration and any test capture
    see only the scrubbed record. With ``demote`` an INFO record becomes DEBUG and is then dropped unless the
    root logger is enabled for DEBUG (the logger's own level check has already passed at INFO).
    """

    def __init__(self, scrubber: Scrubber, *, demote: bool = False) -> None:
        super().__init__()
        self.scrubber = scrubber
        self.demote = demote

    def filter(self, record: logging.LogRecord) -> bool:
        if self.demote and record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if not logging.getLogger().isEnabledFor(logging.DEBUG):
                return False
        message = record.getMessage()
        clean = self.scrubber.text(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = self.scrubber.value(fields)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.scrubber.text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None  # formatters fall back to exc_text; the raw exception may hold the URL
        return True


def install_log_scrubbing(secrets: Iterable[str | None] = ()) -> None:
    """Put a :class:`LogScrubber` on every logger in :data:`URL_LOGGERS` (demoting the HTTP clients' INFO lines),
    and turn the transport's wire traces off.

    Idempotent: a logger that already has one gets the new secrets instead of a second filter.
    """
    scrubber = Scrubber(secrets)
    for name in WIRE_TRACE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, LogScrubber)]:
            logger.removeFilter(old)
        logger.addFilter(LogScrubber(scrubber, demote=name in HTTP_CLIENT_LOGGERS))
