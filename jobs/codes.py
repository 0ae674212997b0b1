"""Why a job ended: every ``error.code`` a job can carry, with what each one means for the job.

The values are a stable API (clients read them in the status document, the README lists them): a member may be
added, never renamed. Each code knows three things, declared on its own line below:

- ``ingest``: the upload never completed (the body stopped, was refused mid-stream, or expired). Such a job
  never had a complete spool: its attemptId is free again (the next request of the attempt starts a new
  job), it cannot be retried, and whatever file it left is removed at once.
- ``retryable``: what the status document says (``error.retryable``): the same file may get through if it is
  sent again or the job retried later. False when it would fail the same way (too large, refused by Gemini).
- ``from_spool``: ``POST /api/upload/{jobId}/retry`` may run the job again from its kept spool file. Never
  for an ingest failure (there is no complete spool) nor for a spool that is gone or damaged.

Gemini's permanent refusals are :data:`focalpoint_upload.gemini.errors.PERMANENT_CODES`, the Gemini boundary's
own vocabulary; every one of them is a member here (tests/jobs/test_codes.py checks it). The codes the front
door answers without failing a job (``not_found``, ``rate_limited``, ...) are not job codes and live with the
HTTP errors (``frontdoor/errors.py``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    ingest: bool
    retryable: bool
    from_spool: bool

    # Called once per member as the class is made (the defaults only let ErrorCode("text"), the look-up by
    # value, type-check: every member states all three).
    def __new__(cls, value: str, ingest: bool = False, retryable: bool = False, from_spool: bool = False) -> ErrorCode:
        assert not (ingest and from_spool), value  # an ingest failure has no complete spool to run from
        member = str.__new__(cls, value)
        member._value_ = value
        member.ingest, member.retryable, member.from_spool = ingest, retryable, from_spool
        return member

    @classmethod
    def parse(cls, text: str | None) -> ErrorCode | None:
        """The member for a stored code; None for none or for a code this version does not know (a record
        written by another version, or by a test)."""
        try:
            return cls(text) if text is not None else None
        except ValueError:
            return None

    #                                               ingest retryable from_spool
    # The upload never completed (front door, sweeper).
    CLIENT_ABORTED = "client_aborted",              True,  True,  False
    CLIENT_TOO_SLOW = "client_too_slow",            True,  True,  False
    INGEST_INTERRUPTED = "ingest_interrupted",      True,  True,  False  # its front door died mid-body
    UPLOAD_EXPIRED = "upload_expired",              True,  True,  False  # a resumable upload stalled too long
    INSUFFICIENT_STORAGE = "insufficient_storage",  True,  True,  False
    MALFORMED_MULTIPART = "malformed_multipart",    True,  True,  False
    INTERNAL = "internal",                          True,  True,  False  # a front-door bug while spooling (500)
    EMPTY_FILE = "empty_file",                      True,  False, False
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", True, False, False
    NO_FILE_PART = "no_file_part",                  True,  False, False
    MULTIPLE_FILE_PARTS = "multiple_file_parts",    True,  False, False
    TOO_LARGE = "too_large",                        True,  False, False  # over our limit or Gemini's
    # The spool file the job was to upload from.
    SPOOL_MISSING = "spool_missing",                False, False, False
    SPOOL_DAMAGED = "spool_damaged",                False, False, False  # shorter than the bytes received
    # Our own limits and the workers.
    DEADLINE_EXCEEDED = "deadline_exceeded",        False, True,  True
    INTERNAL_ERROR = "internal_error",              False, True,  True   # the worker crashed repeatedly
    # The Gemini side: transient failures that outlasted their budget, and what Gemini made of the file.
    GEMINI_UNAVAILABLE = "gemini_unavailable",      False, True,  True
    PROCESSING_TIMEOUT = "processing_timeout",      False, True,  True
    GEMINI_STORAGE_TIMEOUT = "gemini_storage_timeout", False, True, True
    INTEGRITY_MISMATCH = "integrity_mismatch",      False, True,  True
    GEMINI_PROCESSING_FAILED = "gemini_processing_failed", False, False, True
    # Gemini's permanent refusals (gemini.errors.PERMANENT_CODES; too_large is above). A retry from the spool
    # is allowed: the operator may have fixed the key, the permission or the quota meanwhile.
    INVALID_ARGUMENT = "invalid_argument",          False, False, True
    API_KEY_INVALID = "api_key_invalid",            False, False, True
    UNAUTHENTICATED = "unauthenticated",            False, False, True
    PERMISSION_DENIED = "permission_denied",        False, False, True
    NOT_FOUND = "not_found",                        False, False, True
    CONFLICT = "conflict",                          False, False, True
    QUOTA_EXHAUSTED = "quota_exhausted",            False, False, True
    PROTOCOL = "protocol",                          False, False, True
    SIZE_MISMATCH = "size_mismatch",                False, False, True
    HTTP_ERROR = "http_error",                      False, False, True
    # The client cancelled (the job is CANCELLED, not FAILED).
    CANCELLED = "cancelled",                        False, False, False


# The sentence clients read for the codes that always say the same; the others are phrased where they arise
# (a Gemini failure by gemini.translate.public_message, a refused body by its HTTP error, a budget by its numbers).
MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.INGEST_INTERRUPTED: "The upload stopped arriving before it was complete.",
    ErrorCode.UPLOAD_EXPIRED: "The upload made no progress for too long and expired.",
    ErrorCode.SPOOL_MISSING: "The spooled file is gone; upload the file again.",
    ErrorCode.SPOOL_DAMAGED: "The spooled file is shorter than uploaded; upload the file again.",
    ErrorCode.DEADLINE_EXCEEDED: "The upload did not finish within its deadline.",
    ErrorCode.INTERNAL_ERROR: "The upload worker failed repeatedly; the incident was reported.",
    ErrorCode.PROCESSING_TIMEOUT: "Gemini did not finish processing the file in time.",
    ErrorCode.CANCELLED: "Cancelled by the client.",
}


def failure(code: ErrorCode, message: str | None = None) -> dict[str, Any]:
    """The job fields of a failure (or a cancel) with ``code``: pass them to ``JobStore.transition``. The message
    is ``message``, else the code's fixed sentence; ``error_retryable`` is always the code's own."""
    text = message if message is not None else MESSAGES.get(code)
    if text is None:
        raise ValueError(f"{code} has no fixed message: say what happened")
    return {"error_code": code, "error_message": text, "error_retryable": code.retryable}
