"""Admission of ``POST /api/upload``: decide, before the body is read, what the request will become.

:func:`admit` is given an :class:`Ask` (headers, principal, client address; never the handler) and the front
door's ports, and returns a :class:`Decision`: :class:`Admitted` (a new job to spool into), :class:`Known` (an
attempt with a job already: replay or 409 once the body is drained) or :class:`Refused` (an answer to give once
the body is drained). The order of the checks is the contract:

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

from tornado.httputil import HTTPHeaders

from focalpoint_upload.config import Settings
from focalpoint_upload.frontdoor.auth import Principal
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
from focalpoint_upload.frontdoor.upload_slots import Held, give_back, take
from focalpoint_upload.jobs import ErrorCode, Job, State, new_job_id
from focalpoint_upload.jobs.spool import Spool, afail_spooling
from focalpoint_upload.ratelimit import Decision as LimitDecision
from focalpoint_upload.ratelimit import render_headers

if TYPE_CHECKING:
    from focalpoint_upload.frontdoor.context import Frontdoor

ATTEMPT_ID = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
MULTIPART_OVERHEAD = 1024 * 1024  # part headers and boundaries on top of the file


@dataclass(frozen=True)
class Ask:
    """What admission needs of the request: its headers and who sent it (not the handler)."""

    headers: HTTPHeaders
    principal: Principal
    client_ip: str
    request_id: str
    upload_limit: int  # the largest file this principal may upload


@dataclass(frozen=True)
class Admitted:
    """A new SPOOLING job to stream the body into; the slots are the request's to give back when it ends."""

    attempt_id: str
    job: Job
    parser: BodyParser
    slots: Held


@dataclass(frozen=True)
class Known:
    """The attempt has a job already: drain the body, then replay the job (``replay``: the drained body must carry
    the job's file) or, with no ``replay``, answer 409 while it still streams."""

    attempt_id: str
    job: Job
    replay: ReplayCheck | None = None


@dataclass(frozen=True)
class Refused:
    """Answer ``error``: after the body is drained, or ``at_once`` (raised in prepare) when it is too big even to
    drain."""

    error: ApiError
    attempt_id: str | None = None
    at_once: bool = False


Decision = Admitted | Known | Refused


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


async def admit(ask: Ask, fd: Frontdoor) -> Decision:
    """Decide what the request becomes (the module docstring's order). Its only effects are the store's and the
    limiter's: a claimed attempt, counted limits, slots taken (handed over in :class:`Admitted`, given back
    otherwise) and a stale attempt failed. Raises :class:`~jobs.StoreUnavailable` when Redis is unreachable."""
    s, headers = fd.settings, ask.headers
    attempt_id = headers.get("X-Attempt-Id") or headers.get("Idempotency-Key") or ""
    if not ATTEMPT_ID.match(attempt_id):
        return Refused(bad_request(
            "bad_attempt_id", "Name the upload attempt in X-Attempt-Id: 8-128 characters of A-Z a-z 0-9 _ -."))
    if not fd.accepting:
        return Refused(unavailable("The service is shutting down; send the upload again in a moment."), attempt_id)
    length = content_length(headers.get("Content-Length"))
    if length is not None and length > drain_allowance(s):
        return Refused(too_large(s.max_upload_bytes), attempt_id, at_once=True)  # too big even to drain

    owner = ask.principal
    existing = await fd.store.find_by_attempt(attempt_id, owner.key)
    if existing is not None and existing.state is not State.SPOOLING and not existing.ingest_failed:
        return Known(attempt_id, existing, ReplayCheck.for_request(headers, s.allowed_media_types))
    if fd.limits is not None:
        decision = await fd.limits.check_ingest(attempt_id, owner.limit_owner)
        if not decision.allowed:
            return Refused(_rate_limited(fd, decision), attempt_id)
    if existing is not None and existing.state is State.SPOOLING:
        if not stale_spooling(existing, s, fd.clock()):
            return Known(attempt_id, existing)
        await afail_spooling(fd.store, existing, ErrorCode.INGEST_INTERRUPTED, fd.call)  # its front door died

    try:
        parser = parser_for(headers.get("Content-Type", ""), headers.get("X-File-Name"), s.allowed_media_types)
    except ApiError as error:
        return Refused(error, attempt_id)
    overhead = MULTIPART_OVERHEAD if parser.media_type is None else 0
    if length is not None and length > ask.upload_limit + overhead:
        return Refused(too_large(ask.upload_limit), attempt_id)
    if length == 0 and parser.media_type is not None:  # a raw body that is no file at all
        return Refused(empty_file(), attempt_id)
    # Running uploads hold only their look-ahead, not what they declared: a declared size that cannot fit is
    # refused now (better than failing half-way), but it reserves nothing beyond its own look-ahead.
    needed = length if length is not None else next_reserved_until(0, None, s.spool_lookahead_bytes)
    space = await fd.call(space_problem, s, needed, outstanding(fd.inflight))
    if space is not None:
        return Refused(insufficient_storage(space), attempt_id)
    slots = await take(fd, owner.key, ask.client_ip)
    if isinstance(slots, ApiError):
        return Refused(slots, attempt_id)
    try:
        decision = await _claim(ask, fd, attempt_id, existing, parser, length, slots)
    except BaseException:
        await give_back(fd, slots)
        raise
    if not isinstance(decision, Admitted):
        await give_back(fd, slots)  # a drained request holds no upload slot
    return decision


async def _claim(ask: Ask, fd: Frontdoor, attempt_id: str, existing: Job | None, parser: BodyParser,
                 length: int | None, slots: Held) -> Decision:
    """Steps 7 and 8: the new-upload quota, then the claim of the attempt for a new SPOOLING job."""
    s, owner = fd.settings, ask.principal
    if fd.limits is not None and existing is None:  # a known attempt sent again is never a new upload
        decision = await fd.limits.check_new_upload(ask.client_ip, owner.limit_owner)
        if not decision.allowed:
            return Refused(_rate_limited(fd, decision), attempt_id)
    now, job_id = fd.clock(), new_job_id()
    job = Job(job_id=job_id, attempt_id=attempt_id, state=State.SPOOLING, created_at=now, updated_at=now,
              bytes_total=length, file_name=parser.file_name, mime_type=parser.media_type,
              request_id=ask.request_id, client_ip=ask.client_ip, spool_path=str(Spool(s.spool_dir).file(job_id)),
              owner=owner.key)
    bound = await fd.store.claim(job, _incomplete)
    if bound is not None:  # another request claimed the attempt between our look-up and now
        return Known(attempt_id, bound, ReplayCheck.for_request(ask.headers, s.allowed_media_types))
    return Admitted(attempt_id, job, parser, slots)


def content_length(raw: str | None) -> int | None:
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


def _incomplete(job: Job) -> bool:
    """A job of the attempt whose upload never completed: the new request takes the attempt over."""
    return job.ingest_failed


def _rate_limited(fd: Frontdoor, decision: LimitDecision) -> ApiError:
    if fd.metrics is not None:
        fd.metrics.ratelimit_rejected(decision.policy, degraded=decision.degraded)
    return limit_error(decision, "Too many upload requests")


def limit_error(decision: LimitDecision, what: str) -> ApiError:
    """429 for a real denial; 503 when the limiter could not reach Redis and the policy fails closed."""
    headers = render_headers(decision)
    if decision.degraded:
        return ApiError(503, "limiter_unavailable",
                        f"The service cannot check its limits right now; retry in {decision.retry_after} s.",
                        headers=headers)
    return ApiError(429, "rate_limited", f"{what}; retry in {decision.retry_after} s.", headers=headers)
