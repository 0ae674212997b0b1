"""What a request may do to a resumable upload: a pure table from (phase, operation) to a verdict.

The upload core asks :func:`phase_of` what the job is (from the job record, the clock and the expiry; no I/O)
and :func:`decide` what the operation becomes. :func:`check_append` judges one append's offset and size.
Nothing here touches Redis, the disk or HTTP; the protocols turn the verdicts into headers and statuses.
"""

from __future__ import annotations

from enum import StrEnum

from focalpoint_upload.frontdoor.errors import (
    ApiError,
    append_too_large,
    exceeds_length,
    offset_mismatch,
    upload_complete,
)
from focalpoint_upload.jobs import ErrorCode, Job, State


class Phase(StrEnum):
    INCOMPLETE = "incomplete"  # SPOOLING, resumable, making progress within the expiry
    STALE = "stale"  # SPOOLING and resumable, but no progress for longer than the expiry: expire it now
    COMPLETE = "complete"  # every byte is spooled (SPOOLED and on downstream, ACTIVE included)
    EXPIRED = "expired"  # FAILED upload_expired
    GONE = "gone"  # cancelled, or failed before it was complete
    FOREIGN = "foreign"  # a single-request upload still streaming: not ours to resume


class Op(StrEnum):
    HEAD = "head"
    APPEND = "append"
    CANCEL = "cancel"


class Verdict(StrEnum):
    REPORT = "report"  # answer with the durable offset and the length
    APPEND = "append"  # take the lock, check the offset, write
    EXPIRE = "expire"  # fail the job upload_expired, then answer 410
    GONE = "gone"  # 410
    COMPLETE = "complete"  # 409: nothing more to append
    CANCEL = "cancel"  # cancel the job (termination)
    LOCKED = "locked"  # 423: another request (a single POST) owns the bytes


TABLE: dict[tuple[Phase, Op], Verdict] = {
    (Phase.INCOMPLETE, Op.HEAD): Verdict.REPORT,
    (Phase.INCOMPLETE, Op.APPEND): Verdict.APPEND,
    (Phase.INCOMPLETE, Op.CANCEL): Verdict.CANCEL,
    (Phase.STALE, Op.HEAD): Verdict.EXPIRE,
    (Phase.STALE, Op.APPEND): Verdict.EXPIRE,
    (Phase.STALE, Op.CANCEL): Verdict.CANCEL,
    # tus-js-client reports success when HEAD shows offset == length: finished uploads keep answering HEAD.
    (Phase.COMPLETE, Op.HEAD): Verdict.REPORT,
    (Phase.COMPLETE, Op.APPEND): Verdict.COMPLETE,
    (Phase.COMPLETE, Op.CANCEL): Verdict.CANCEL,
    (Phase.EXPIRED, Op.HEAD): Verdict.GONE,
    (Phase.EXPIRED, Op.APPEND): Verdict.GONE,
    (Phase.EXPIRED, Op.CANCEL): Verdict.GONE,
    (Phase.GONE, Op.HEAD): Verdict.GONE,
    (Phase.GONE, Op.APPEND): Verdict.GONE,
    (Phase.GONE, Op.CANCEL): Verdict.GONE,
    (Phase.FOREIGN, Op.HEAD): Verdict.LOCKED,
    (Phase.FOREIGN, Op.APPEND): Verdict.LOCKED,
    (Phase.FOREIGN, Op.CANCEL): Verdict.CANCEL,
}


def phase_of(job: Job, now: float, expiry_s: float) -> Phase:
    """The phase of ``job`` at ``now``; the client's progress (a recorded byte) restarts the expiry."""
    if job.state is State.SPOOLING:
        if not job.resumable:
            return Phase.FOREIGN
        return Phase.STALE if now - job.ingest_progress_at > expiry_s else Phase.INCOMPLETE
    if job.state is State.CANCELLED:
        return Phase.GONE
    if job.state is State.FAILED:
        if job.error_code == ErrorCode.UPLOAD_EXPIRED:
            return Phase.EXPIRED
        return Phase.GONE if job.ingest_failed else Phase.COMPLETE
    return Phase.COMPLETE


def decide(phase: Phase, op: Op) -> Verdict:
    """The verdict for ``op`` on an upload in ``phase``; every pair is in the table."""
    return TABLE[(phase, op)]


def check_append(durable: int, given: int, total: int, body: int | None, max_append: int) -> ApiError | None:
    """Judge an append of ``body`` bytes (None: unknown yet) at offset ``given`` to an upload of ``total`` bytes
    whose durable offset is ``durable``; None if it may go ahead."""
    if durable >= total:
        return upload_complete(total)
    if given != durable:
        return offset_mismatch(durable, given)
    if body is not None and body > max_append:
        return append_too_large(max_append)
    if body is not None and given + body > total:
        return exceeds_length(total)
    return None


def expires_at(job: Job, expiry_s: float) -> float | None:
    """When an incomplete upload expires if nothing more arrives (None once it is complete)."""
    if job.state is not State.SPOOLING or not job.resumable:
        return None
    return job.ingest_progress_at + expiry_s
