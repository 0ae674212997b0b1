"""Alerts on final failures: one Sentry event per job that ends FAILED (not one per retry).

``sentry_sdk`` calls are no-ops until ``sentry_sdk.init`` ran (SENTRY_DSN set), so this adapter is always safe.
"""

from __future__ import annotations

import sentry_sdk


class SentryAlerts:
    def job_failed(self, job_id: str, attempt_id: str, stage: str, code: str, message: str) -> None:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("jobId", job_id)
            scope.set_tag("attemptId", attempt_id)
            scope.set_tag("stage", stage)
            scope.set_tag("error_code", code)
            scope.fingerprint = ["job-failed", code]
            sentry_sdk.capture_message(f"Upload job failed: {code}: {message}", level="error")
