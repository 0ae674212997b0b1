"""Job status, cancel and the published upload limits.

- ``GET /api/upload/status?jobId=`` (or ``?attemptId=``): the job's public document. Tornado's own ETag
  machinery (sha1 of the body, ``If-None-Match`` -> 304) makes an unchanged job cheap to poll.
- ``DELETE /api/upload/{jobId}``: cancel a job that is not final; its spool file is removed. On an ACTIVE job:
  the job becomes DELETED (final), the actors delete its Gemini file and free its storage budget.
- ``GET /api/upload/config``: the limits a page checks before sending anything.

Status, cancel and retry see only the principal's own jobs: another owner's job is "not found" (404, never 403,
so an id that exists elsewhere cannot be told from one that does not).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from focalpoint_upload.frontdoor.admission import ATTEMPT_ID, limit_error
from focalpoint_upload.frontdoor.base import BaseHandler
from focalpoint_upload.frontdoor.errors import ApiError, not_found
from focalpoint_upload.frontdoor.spool import remove_spool
from focalpoint_upload.jobs import ErrorCode, Event, IllegalTransition, Job, StaleJob, State, failure
from focalpoint_upload.jobs.record import poll_after_ms
from focalpoint_upload.ratelimit import Decision, render_headers

log = logging.getLogger("focalpoint.frontdoor")

class StatusHandler(BaseHandler):
    async def get(self) -> None:
        job_id = self.get_query_argument("jobId", "")
        attempt_id = self.get_query_argument("attemptId", "")
        if not job_id and not attempt_id:
            raise ApiError(400, "missing_id", "Give jobId or attemptId as a query parameter.")
        # Polls are the hot path: no thread hop; a refused poll costs one Redis round trip and no job read.
        decision, job = await self._lookup(self.client_ip(), job_id, attempt_id)
        if decision is not None:
            if not decision.allowed:
                if self.fd.metrics is not None:
                    self.fd.metrics.ratelimit_rejected(decision.policy, degraded=decision.degraded)
                self.answer_refusal(limit_error(decision, "Too many status requests"))  # its headers included
                return
            for name, value in render_headers(decision).items():
                self.set_header(name, value)
        if job is None:
            raise not_found("upload job with that id")
        self.set_header("Cache-Control", "no-cache")  # revalidate with the ETag every time
        self.set_header("Content-Type", "application/json; charset=utf-8")
        doc = job.public()
        # A job that has not changed for a long while is polled less often (a step, so the ETag stays put).
        doc["pollAfterMs"] = poll_after_ms(job.state, self.fd.clock() - job.updated_at)
        self.write(json.dumps(doc, separators=(",", ":")))

    async def _lookup(self, ip: str, job_id: str, attempt_id: str) -> tuple[Decision | None, Job | None]:
        """Check the poll limit, and only if allowed read the job: a poll already over the limit costs one
        round trip and reads no job; an allowed one reads the job alongside the limiter's counting step."""
        owner = self.principal
        if self.fd.limits is None:
            return None, await self._read(job_id, attempt_id)
        decision, job = await self.fd.limits.check_status_then(ip, owner.limit_owner,
                                                              lambda: self._read(job_id, attempt_id))
        return decision, job if decision.allowed else None

    async def _read(self, job_id: str, attempt_id: str) -> Job | None:
        owner = self.principal
        if job_id:
            return await self.fd.store.get(job_id, owner.key) if len(job_id) <= 64 else None
        job = await self.fd.store.find_by_attempt(attempt_id, owner.key) if ATTEMPT_ID.match(attempt_id) else None
        # An attempt whose upload never completed is free: nothing to attach to, send it (again).
        return None if job is None or job.ingest_failed else job

    def set_default_headers(self) -> None:
        pass  # no "no-store" here: the ETag is the point

    def compute_etag(self) -> str | None:
        etag = super().compute_etag()
        return etag if self.get_status() == 200 else None


class CancelHandler(BaseHandler):
    async def delete(self, job_id: str) -> None:
        job = await self.fd.store.get(job_id, self.principal.key)
        if job is None:
            raise not_found("upload job with that id")
        was_spooling = job.state == State.SPOOLING
        try:
            if job.state == State.ACTIVE:  # delete the Gemini file (the cancel actor does it, or the sweeper)
                job = await self.fd.store.transition(job_id, Event.DELETE, expect=State.ACTIVE, known=job,
                                                     deleted_at=self.fd.clock())
            else:
                job = await self.fd.store.transition(job_id, Event.CANCEL, known=job, **failure(ErrorCode.CANCELLED))
        except (IllegalTransition, StaleJob):
            current = await self.fd.store.get(job_id)
            state = current.state if current else State.CANCELLED
            raise ApiError(409, "job_final", f"The job is {state} and cannot be cancelled or deleted.",
                           state=str(state)) from None
        # A spooling upload (here or on another front door) notices the cancel at its next progress write, or
        # when its final compare-and-set fails, and removes its own file; a spooled file is removed now.
        if job.spool_path and not was_spooling:
            await self.fd.call(remove_spool, job.spool_path)
        try:
            await self.fd.dispatch(self.fd.dispatcher.job_cancelled, job_id)
        except Exception as exc:  # the job is cancelled; the sweeper and the actors' state checks clean up after it
            log.warning("cancel_dispatch_failed", exc_info=exc, extra={"fields": {"jobId": job_id}})
        self.write_json(200, job.public())


class ConfigHandler(BaseHandler):
    requires_auth = False  # the published limits are no secret

    def get(self) -> None:
        s = self.fd.settings
        if self.request.headers.get("Authorization"):
            try:
                self.authenticate()  # a valid token's own cap (max_bytes) is the limit this page should check
            except ApiError:
                pass  # the token will be refused where it matters; the limits are public anyway
        self.write_json(200, {
            "maxUploadBytes": self.upload_limit(),
            "allowedMediaTypes": list(s.allowed_media_types),
            "attemptIdPattern": ATTEMPT_ID.pattern,
            "statusPollLimit": s.limit_status_per_ip,
            "geminiEmulated": s.emulate_gemini,  # the page says so: nothing reaches Google
        })


class RetryHandler(BaseHandler):
    """``POST /api/upload/{jobId}/retry``: run a FAILED or EXPIRED job again from its kept spool, without a new
    upload (an EXPIRED job's spool is kept only if FOCALPOINT_SPOOL_RETENTION_ACTIVE outlived its file).

    Only failures on the Gemini side qualify (a failed ingest has no complete spool: upload again), and only
    while the spool file is kept (FOCALPOINT_SPOOL_RETENTION_FAILED). The Gemini session is kept: the upload
    resumes where it stopped if the session is still alive.
    """

    async def post(self, job_id: str) -> None:
        job = await self.fd.store.get(job_id, self.principal.key)
        if job is None:
            raise not_found("upload job with that id")
        expired, code = job.state == State.EXPIRED, ErrorCode.parse(job.error_code)
        if not expired and (job.state != State.FAILED or (code is not None and not code.from_spool)):
            raise ApiError(409, "not_retryable", f"Only a job that failed on the Gemini side or expired can be "
                                                 f"retried; this one is {job.state} ({job.error_code}). "
                                                 f"Upload the file again.")
        if not job.spool_path or not await self.fd.call(os.path.exists, job.spool_path):
            raise ApiError(410, "spool_gone", "The uploaded file is no longer kept; upload it again.")
        try:
            reset: dict[str, Any] = {"bytes_uploaded": 0} if expired else {}
            job = await self.fd.store.transition(
                job_id, Event.RETRY, expect=job.state, known=job, error_code=None, error_message=None,
                error_retryable=None, attempts=0, last_error=None, gemini_file_name=None, gemini_file_uri=None,
                gemini_expires_at=None, deadline_at=None, polls=0, retried_at=self.fd.clock(), integrity_retries=0,
                sha256_verified=None, waiting=None, waiting_since=None, waited_s=0.0, expired_at=None, **reset)
            job = await self.fd.store.modify(job_id, _new_message_generation, known=job)
        except (IllegalTransition, StaleJob):
            raise ApiError(409, "not_retryable", "The job changed meanwhile; look at its status.") from None
        await self.fd.dispatch(self.fd.dispatcher.job_spooled, job.job_id, job.msg_gen)
        self.set_header("Location", f"/api/upload/status?jobId={job.job_id}")
        self.write_json(202, job.public())


def _new_message_generation(job: Job) -> Job:
    """A new message chain for a retried job (older messages of the job are dropped on arrival)."""
    if job.state != State.SPOOLED:
        raise StaleJob(job.job_id, State.SPOOLED, job.state)
    return job.with_(msg_gen=job.msg_gen + 1)
