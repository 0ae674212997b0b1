from __future__ import annotations

import base64
import hashlib

from focalpoint_upload.gemini.integrity import Verdict, verdict
from focalpoint_upload.gemini.model import sha256_hex

DIGEST = hashlib.sha256(b"abc").hexdigest()


def test_verdicts() -> None:
    assert verdict(DIGEST, DIGEST.upper()) is Verdict.MATCH
    assert verdict(DIGEST, hashlib.sha256(b"abd").hexdigest()) is Verdict.MISMATCH
    assert verdict(DIGEST, None) is Verdict.UNKNOWN
    assert verdict(None, DIGEST) is Verdict.UNKNOWN
    assert verdict(DIGEST, "not-a-digest") is Verdict.UNKNOWN


def test_both_base64_forms_of_sha256hash_compare_equal_to_the_spool_digest() -> None:
    of_hex_text = base64.b64encode(DIGEST.encode()).decode()
    of_raw = base64.b64encode(hashlib.sha256(b"abc").digest()).decode()
    assert verdict(DIGEST, sha256_hex(of_hex_text)) is Verdict.MATCH
    assert verdict(DIGEST, sha256_hex(of_raw)) is Verdict.MATCH
