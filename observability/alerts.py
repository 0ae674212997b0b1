"""The alert for a job that ends FAILED: one Sentry event per job, plus a counter.

A drop-in for ``actors.alerts.SentryAlerts`` (same ``job_failed`` signature, the ``actors.ports.Alerts``
port). Differences, and why:

- the title is ``Upload job failed: <code> (<stage>)`` with no free text, and the fingerprint is
  ``["job-failed", code]``: one Sentry issue per error code, however the messages vary;
- the free-text message goes to the ``job`` context (scrubbed like the rest of the event);
- empty tag values are left out (Sentry rejects empty tag values; ``job_crashed`` used to pass ``""``);
- with a :class:`~observability.metrics.Metrics`, ``focalpoint_jobs_failed_total{stage,code}`` counts it too.

Only the caller that moved the job to FAILED (the compare-and-set winner) calls this, so each job alerts once.
"""

from __future__ import annotations

import sentry_sdk

from focalpoint_upload.observability.metrics import Metrics


class JobFailureAlerts:
    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics

    def job_failed(self, job_id: str, attempt_id: str, stage: str, code: str, message: str) -> None:
        """Report the job's final failure. Never raises."""
        if self._metrics is not None:
            self._metrics.job_failed(stage, code)
        try:
            with sentry_sdk.new_scope() as scope:
                for name, value in (("jobId", job_id), ("attemptId", attempt_id), ("stage", stage),
                                    ("error_code", code)):
                    if value:
                        scope.set_tag(name, value)
                scope.set_context("job", {"jobId": job_id, "attemptId": attempt_id or None, "stage": stage,
                                          "code": code, "message": message})
                scope.fingerprint = ["job-failed", code]
                sentry_sdk.capture_message(f"Upload job failed: {code} ({stage})", level="error")
        except Exception:  # pragma: no cover - an alert must never break the leg
            pass
