"""End-to-end integrity: does the file Gemini stored hold the bytes we spooled?

The spool's sha256 is computed while the body is written (hex, on the job). Gemini reports ``sha256Hash`` for
every file: the SDK types it as ``Optional[str]``, "encoded in base64"; :func:`gemini.model.sha256_hex` turns
either base64 form Google uses (of the hex text, or of the raw 32-byte digest) into hex. This module only
compares; what to do about a mismatch is the leg's business (``actors.reupload``).
"""

from __future__ import annotations

import hmac
from enum import StrEnum


class Verdict(StrEnum):
    MATCH = "match"  # Gemini's digest equals the spool's
    MISMATCH = "mismatch"  # both known and different: Gemini stored other bytes
    UNKNOWN = "unknown"  # one side has no digest (an old job, or Gemini did not report one): not verified


def verdict(spool_sha256_hex: str | None, remote_sha256_hex: str | None) -> Verdict:
    """Compare two hex digests (case-insensitive). Unknown when either is missing or not a sha256 digest."""
    ours, theirs = _norm(spool_sha256_hex), _norm(remote_sha256_hex)
    if ours is None or theirs is None:
        return Verdict.UNKNOWN
    return Verdict.MATCH if hmac.compare_digest(ours, theirs) else Verdict.MISMATCH


def _norm(digest: str | None) -> str | None:
    if not digest:
        return None
    text = digest.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        return None
    return text
