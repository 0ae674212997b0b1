"""Admission of ``POST /api/upload``: decide, before the body is read, what the request will become.

The outcome is an :class:`Admission`: either a new job to spool into (``job`` and ``parser`` set), or an answer
to give once the body has been drained (``existing`` for a known attempt, else ``refusal``). The order of the
checks is the contract:

1. attemptId header well formed (400), service accepting (503), Content-Length beyond what we would even drain
   (:func:`drain_allowance`: 413 at once, the only early answer);
2. a known attempt whose spool completed -> replay it (never rate-limited, never counted);
3. the per-attempt ingest limit (429), counted for every request that is not a replay;
4. a known attempt still streaming -> 409 (a stale one, whose front door died, is failed and taken over, as
   is an attempt whose upload failed before it completed);
5. body format and media type (400/415), size by Content-Length (413; a raw ``Content-Length: 0`` is 400
   ``empty_file``), free space (507): a declared size must
   fit beside the look-ahead running uploads hold (:mod:`frontdoor.space`), but reserves nothing up front;
6. the cap on uploads streaming at once per client IP and principal (429 ``too_many_uploads``,
   :mod:`frontdoor.upload_slots`); the slots taken here are the handler's to release;
7. the per-IP new-upload quota (429), only for attempts never seen before (a re-send is not a new upload);
8. claim the attempt for a new SPOOLING job (a lost race becomes step 2 or 4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from focalpoint_upload.config import Settings
from focalpoint_upload.frontdoor.errors import (
    ApiError,
    attempt_in_progress,
    attempt_mismatch,
    bad_request,
    empty_file,
    insufficient_storage,
    too_large,
    unavailable,
)
from focalpoint_upload.frontdoor.ingest import BodyParser, parser_for
from focalpoint_upload.frontdoor.replay import ReplayCheck
from focalpoint_upload.frontdoor.space import next_reserved_until, outstanding, space_problem
from focalpoint_upload.frontdoor.upload_slots import principal_key, take
from focalpoint_upload.jobs import ErrorCode, Job, State, new_job_id
from focalpoint_upload.jobs.spool import Spool, afail_spooling
from focalpoint_upload.ratelimit import Decision, render_headers

if TYPE_CHECKING:
    from focalpoint_upload.frontdoor.context import Frontdoor
    from focalpoint_upload.frontdoor.upload import UploadHandler

ATTEMPT_ID = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
MULTIPART_OVERHEAD = 1024 * 1024  # part headers and boundaries on top of the file


@dataclass
class Admission:
    attempt_id: str | None = None
    job: Job | None = None  # the job this request spools into
    parser: BodyParser | None = None
    existing: Job | None = None  # the attempt's job made by an earlier request: replay or 409 after draining
    refusal: ApiError | None = None
    replay: ReplayCheck | None = None  # for ``existing``: is the drained body the same file?

    @property
    def job_id(self) -> str | None:
        if self.job is not None:
            return self.job.job_id
        return self.existing.job_id if self.existing is not None else None


def drain_allowance(s: Settings) -> int:
    """Most body bytes read and discarded after a request is refused: FOCALPOINT_DRAIN_LIMIT, but never less
    than the largest body we accept, so that every upload a client may rightly send gets its answer (a 413
    included) after its body, as a proxy needs (field notes)."""
    return max(s.drain_limit_bytes, s.max_upload_bytes + MULTIPART_OVERHEAD)


def stale_spooling(job: Job, settings: Settings, now: float) -> bool:
    """A SPOOLING job whose front door stopped writing progress: it died, or the upload stalled past the cut-off."""
    if job.resumable:  # a resumable upload waits for its client between requests (frontdoor.core)
        return False
    return job.state is State.SPOOLING and now - job.updated_at > settings.ingest_idle_timeout_s + 10


def replay_or_conflict(job: Job | None, settings: Settings, now: float,
                       replay: ReplayCheck | None = None) -> Job | ApiError:
    """What to answer for a known attempt: the job itself (replay), 409 while it still streams, or 422 when
    the request carried another file than the job's."""
    if job is None or job.ingest_failed:
        return ApiError(409, "attempt_in_progress", "The attempt's upload ended without a spool; send it again.",
                        headers={"Retry-After": "1"})
    if job.state is State.SPOOLING:
        return attempt_in_progress(job.attempt_id, job.job_id)
    if replay is not None and not replay.matches(job):
        return attempt_mismatch()
    return job


async def admit(h: UploadHandler) -> Admission:
    fd, s = h.fd, h.fd.settings
    headers = h.request.headers
    attempt_id = headers.get("X-Attempt-Id") or headers.get("Idempotency-Key") or ""
    if not ATTEMPT_ID.match(attempt_id):
        return Admission(refusal=bad_request(
            "bad_attempt_id", "Name the upload attempt in X-Attempt-Id: 8-128 characters of A-Z a-z 0-9 _ -."))
    adm = Admission(attempt_id=attempt_id)
    if not fd.accepting:
        adm.refusal = unavailable("The service is shutting down; send the upload again in a moment.")
        return adm
    length = content_length(headers.get("Content-Length"))
    if length is not None and length > drain_allowance(s):
        raise too_large(s.max_upload_bytes)  # too big even to drain: answered at once, connection closed

    owner = h.principal
    existing = await fd.store.find_by_attempt(attempt_id, owner.key)
    if existing is not None and existing.state is not State.SPOOLING and not existing.ingest_failed:
        adm.existing, adm.replay = existing, ReplayCheck.for_request(headers, s.allowed_media_types)
        return adm
    if fd.limits is not None:
        decision = await fd.limits.check_ingest(attempt_id, owner.limit_owner)
        if not decision.allowed:
            adm.refusal = _rate_limited(fd, decision)
            return adm
    if existing is not None and existing.state is State.SPOOLING:
        if not stale_spooling(existing, s, fd.clock()):
            adm.existing = existing
            return adm
        await _fail_stale(h, existing)

    try:
        parser = parser_for(headers.get("Content-Type", ""), headers.get("X-File-Name"), s.allowed_media_types)
    except ApiError as error:
        adm.refusal = error
        return adm
    overhead = MULTIPART_OVERHEAD if parser.media_type is None else 0
    limit = h.upload_limit()
    if length is not None and length > limit + overhead:
        adm.refusal = too_large(limit)
        return adm
    if length == 0 and parser.media_type is not None:  # a raw body that is no file at all
        adm.refusal = empty_file()
        return adm
    # Running uploads hold only their look-ahead, not what they declared: a declared size that cannot fit is
    # refused now (better than failing half-way), but it reserves nothing beyond its own look-ahead.
    needed = length if length is not None else next_reserved_until(0, None, s.spool_lookahead_bytes)
    space = await fd.call(space_problem, s, needed, outstanding(fd.inflight))
    if space is not None:
        adm.refusal = insufficient_storage(space)
        return adm
    slots = await take(fd, principal_key(h), h.client_ip())
    if isinstance(slots, ApiError):
        adm.refusal = slots
        return adm
    h.slots = slots  # the handler's from here: it gives them back when the request ends or is refused
    if fd.limits is not None and existing is None:  # a known attempt sent again is never a new upload
        decision = await fd.limits.check_new_upload(h.client_ip(), owner.limit_owner)
        if not decision.allowed:
            adm.refusal = _rate_limited(fd, decision)
            return adm

    now, job_id = fd.clock(), new_job_id()
    job = Job(job_id=job_id, attempt_id=attempt_id, state=State.SPOOLING, created_at=now, updated_at=now,
              bytes_total=length, file_name=parser.file_name, mime_type=parser.media_type,
              request_id=h.request_id, client_ip=h.client_ip(), spool_path=str(Spool(s.spool_dir).file(job_id)),
              owner=owner.key)
    bound = await fd.store.claim(job, _incomplete)
    if bound is not None:  # another request claimed the attempt between our look-up and now
        adm.existing, adm.replay = bound, ReplayCheck.for_request(headers, s.allowed_media_types)
        return adm
    adm.job, adm.parser = job, parser
    return adm


def content_length(raw: str | None) -> int | None:
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


async def _fail_stale(h: UploadHandler, job: Job) -> None:
    """Its front door died mid-body: fail the job, remove the dead front door's .part (if it left one)."""
    await afail_spooling(h.fd.store, job, ErrorCode.INGEST_INTERRUPTED, h.fd.call)


def _incomplete(job: Job) -> bool:
    """A job of the attempt whose upload never completed: the new request takes the attempt over."""
    return job.ingest_failed


def _rate_limited(fd: Frontdoor, decision: Decision) -> ApiError:
    if fd.metrics is not None:
        fd.metrics.ratelimit_rejected(decision.policy, degraded=decision.degraded)
    return limit_error(decision, "Too many upload requests")


def limit_error(decision: Decision, what: str) -> ApiError:
    """429 for a real denial; 503 when the limiter could not reach Redis and the policy fails closed."""
    headers = render_headers(decision)
    if decision.degraded:
        return ApiError(503, "limiter_unavailable",
                        f"The service cannot check its limits right now; retry in {decision.retry_after} s.",
                        headers=headers)
    return ApiError(429, "rate_limited", f"{what}; retry in {decision.retry_after} s.", headers=headers)
