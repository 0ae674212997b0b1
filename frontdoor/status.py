"""Job status, cancel and the published upload limits.

- ``GET /api/upload/status?jobId=`` (or ``?attemptId=``): the job's public document. Tornado's own ETag
  machinery (sha1 of the body, ``If-None-Match`` -> 304) makes an unchanged job cheap to poll.
- ``DELETE /api/upload/{jobId}``: cancel a job that is not final; its spool file is removed.
- ``GET /api/upload/config``: the limits a page checks before sending anything.
"""

from __future__ import annotations

import json

from frontdoor.admission import ATTEMPT_ID, limit_error
from frontdoor.base import BaseHandler
from frontdoor.errors import ApiError, not_found
from frontdoor.spool import remove_spool
from jobs import Event, IllegalTransition, Job, StaleJob, State
from ratelimit import render_headers


class StatusHandler(BaseHandler):
    async def get(self) -> None:
        await self.check_status_limit()
        job_id = self.get_query_argument("jobId", "")
        attempt_id = self.get_query_argument("attemptId", "")
        job: Job | None
        if job_id:
            job = await self.fd.call(self.fd.store.get, job_id) if len(job_id) <= 64 else None
        elif attempt_id:
            job = await self.fd.call(self.fd.store.find_by_attempt, attempt_id) if ATTEMPT_ID.match(
                attempt_id) else None
        else:
            raise ApiError(400, "missing_id", "Give jobId or attemptId as a query parameter.")
        if job is None:
            raise not_found("upload job with that id")
        self.set_header("Cache-Control", "no-cache")  # revalidate with the ETag every time
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.write(json.dumps(job.public(), separators=(",", ":")))

    def set_default_headers(self) -> None:
        pass  # no "no-store" here: the ETag is the point

    async def check_status_limit(self) -> None:
        limits = self.fd.limits
        if limits is None:
            return
        decision = await self.fd.call(limits.check_status, self.client_ip())
        for name, value in render_headers(decision).items():
            self.set_header(name, value)
        if not decision.allowed:
            raise limit_error(decision, "Too many status requests")

    def compute_etag(self) -> str | None:
        etag = super().compute_etag()
        return etag if self.get_status() == 200 else None


class CancelHandler(BaseHandler):
    async def delete(self, job_id: str) -> None:
        job = await self.fd.call(self.fd.store.get, job_id)
        if job is None:
            raise not_found("upload job with that id")
        was_spooling = job.state == State.SPOOLING
        try:
            job = await self.fd.call(self.fd.store.transition, job_id, Event.CANCEL,
                                     error_code="cancelled", error_message="Cancelled by the client.",
                                     error_retryable=False)
        except (IllegalTransition, StaleJob):
            current = await self.fd.call(self.fd.store.get, job_id)
            state = current.state if current else State.CANCELLED
            raise ApiError(409, "job_final", f"The job is {state} and cannot be cancelled.",
                           state=str(state)) from None
        # A spooling upload (here or on another front door) notices the cancel at its next progress write, or
        # when its final compare-and-set fails, and removes its own file; a spooled file is removed now.
        if job.spool_path and not was_spooling:
            await self.fd.call(remove_spool, job.spool_path)
        try:
            await self.fd.call(self.fd.dispatcher.job_cancelled, job_id)
        except Exception:  # the actors also check the state before every step
            pass
        self.write_json(200, job.public())


class ConfigHandler(BaseHandler):
    def get(self) -> None:
        s = self.fd.settings
        self.write_json(200, {
            "maxUploadBytes": s.max_upload_bytes,
            "allowedMediaTypes": list(s.allowed_media_types),
            "attemptIdPattern": ATTEMPT_ID.pattern,
            "statusPollLimit": s.limit_status_per_ip,
        })
