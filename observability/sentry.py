"""Sentry for every process: ``init_sentry`` (idempotent), ``capture_exception`` with tags, ``shutdown_sentry``.

What is sent, and what is not:

- Unhandled exceptions in Tornado handlers (the Tornado integration: ``RequestHandler.log_exception``) and in
  Dramatiq actors (the Dramatiq integration's middleware), one event per failed *message*: events from a
  redelivery of a message that already failed once are dropped (:class:`MessageTags` tags each message's
  scope with its retry count), so a bug hit by every retry is one event, and the job that ends FAILED when
  retries run out is one more (``job_failed``).
- Exceptions that never reach Tornado's error path (raised in ``data_received``): the handler catches them and
  calls :func:`capture_exception` with its tags.
- ``logging`` records at ERROR become events (``log.exception("dispatch_failed")``...), INFO and up become
  breadcrumbs; the ``job_failed`` / ``job_crashed`` log lines are dropped as events because the alert for the
  same job is sent by :class:`observability.alerts.JobFailureAlerts`.
- Never: request bodies, PII, traces. Every event, breadcrumb and transaction goes through
  :class:`observability.scrub.Scrubber` (the Gemini API key, upload session URLs, ``key=``).

Field note: the Dramatiq integration patches ``Broker.__init__``; call :func:`init_sentry` before the broker
is built, or the broker has no Sentry middleware.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import dramatiq
import sentry_sdk
from sentry_sdk.integrations.dramatiq import DramatiqIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.tornado import TornadoIntegration

from focalpoint_upload.config import Settings
from focalpoint_upload.observability.scrub import Scrubber

# Log lines whose event is sent by the job-failure alert instead.
ALERTED_LOG_EVENTS: frozenset[str] = frozenset({"job_failed", "job_crashed"})
RETRIES_TAG = "dramatiq_retries"


@dataclass(frozen=True)
class _Active:
    dsn: str
    environment: str
    component: str


_lock = threading.Lock()
_active: _Active | None = None


def init_sentry(settings: Settings, component: str, *, release: str | None = None,
                secrets: Iterable[str | None] = ()) -> bool:
    """Start Sentry in this process if ``settings.sentry_dsn`` is set; returns whether Sentry is on.

    ``component`` ("frontdoor", "worker", "serve") becomes the ``component`` tag of every event. ``secrets``
    adds literal values to scrub beside ``settings.gemini_api_key``. Idempotent: calling it again with the same
    DSN, environment and component does nothing; with different ones the previous client is closed first.
    """
    global _active
    if not settings.sentry_dsn:
        return False
    wanted = _Active(settings.sentry_dsn, settings.sentry_environment, component)
    with _lock:
        if _active == wanted:
            return True
        if _active is not None:
            _close(timeout_s=2.0)
        webhook = settings.webhook_secret
        scrubber = Scrubber([settings.gemini_api_key, webhook, webhook.removeprefix("whsec_") if webhook else None,
                             *secrets])
        sentry_sdk.init(
            dsn=settings.sentry_dsn,
            environment=settings.sentry_environment,
            release=release or _release(),
            integrations=[
                TornadoIntegration(),
                DramatiqIntegration(),
                LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            ],
            auto_enabling_integrations=False,  # no httpx/redis breadcrumbs full of session URLs and keys
            max_request_body_size="never",
            traces_sample_rate=None,
            before_send=_before_send(scrubber),
            before_send_transaction=cast(Any, scrubber.event),
            before_breadcrumb=cast(Any, scrubber.breadcrumb),
        )
        sentry_sdk.get_global_scope().set_tag("component", component)
        _active = wanted
        return True


def sentry_enabled() -> bool:
    """True while a client started by :func:`init_sentry` is live."""
    return _active is not None


def capture_exception(exc: BaseException, **tags: str | int | None) -> str | None:
    """Report ``exc`` with ``tags`` (``None`` and empty values are left out); returns the event id, or None
    when Sentry is off or the event was dropped. Safe to call from anywhere, including Tornado's
    ``data_received`` (which has no request scope of its own); never raises."""
    try:
        with sentry_sdk.new_scope() as scope:
            for name, value in tags.items():
                if value is not None and value != "":
                    scope.set_tag(name, str(value))
            return sentry_sdk.capture_exception(exc)
    except Exception:  # pragma: no cover - reporting must never break the caller
        return None


def flush(timeout_s: float = 2.0) -> None:
    """Send what is queued (tests; the end of a short-lived process)."""
    sentry_sdk.flush(timeout=timeout_s)


def shutdown_sentry(timeout_s: float = 2.0) -> None:
    """Flush and close the client and forget the configuration (so a later :func:`init_sentry` starts anew).
    For tests and process exit; a no-op when Sentry is off."""
    global _active
    with _lock:
        if _active is not None:
            _close(timeout_s)
            _active = None


def _close(timeout_s: float) -> None:
    client = sentry_sdk.get_client()
    client.flush(timeout=timeout_s)
    client.close(timeout=timeout_s)
    sentry_sdk.get_global_scope().remove_tag("component")
    sentry_sdk.get_global_scope().set_client(None)


def _before_send(scrubber: Scrubber) -> Any:
    def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        if _retried_message(event) or _alerted_log_line(event):
            return None
        return scrubber.event(event, hint)

    return before_send


def _retried_message(event: dict[str, Any]) -> bool:
    """An exception from a redelivered Dramatiq message (tagged by :class:`MessageTags`)."""
    tags = event.get("tags") or {}
    retries = tags.get(RETRIES_TAG) if isinstance(tags, dict) else None
    return bool(event.get("exception")) and retries not in (None, "0")


class MessageTags(dramatiq.Middleware):
    """Tags the Sentry scope of each Dramatiq message: ``actor``, ``jobId`` (the first argument when it is a
    string) and ``dramatiq_retries`` (how many times it failed before), which ``before_send`` uses to report
    only the first failure of a message. Runs after Sentry's own middleware (which opens the message's
    isolation scope in ``before_process_message``): add it after the broker is built."""

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        scope = sentry_sdk.get_isolation_scope()
        scope.set_tag("actor", str(message.actor_name))
        scope.set_tag(RETRIES_TAG, str(int(message.options.get("retries", 0))))
        args = message.args
        if args and isinstance(args[0], str):
            scope.set_tag("jobId", args[0])


def _alerted_log_line(event: dict[str, Any]) -> bool:
    entry = event.get("logentry") or {}
    return bool(event.get("logger")) and not event.get("exception") and (
        entry.get("message") in ALERTED_LOG_EVENTS)


def _release() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"focalpoint-upload@{version('focalpoint-upload')}"
    except PackageNotFoundError:
        return None
