"""The one sanitiser for client-given file names, whatever way they come in (multipart ``filename``, the raw
upload's ``X-File-Name``, tus ``Upload-Metadata``).

A file name is shown on the page, written to logs and sent to Gemini as the file's display name; none of
those should ever see a path, a terminal escape, a line break or text that reads in another direction than
it is stored. The result is therefore:

- a base name only: everything up to the last ``/`` or ``\\`` is dropped, and ``.``/``..`` are no name;
- free of control, format and separator characters (Unicode categories Cc, Cf, Cs, Co, Cn, Zl, Zp): NUL,
  CR, LF, DEL, C1 controls, ANSI escape sequences as a whole, bidi overrides and isolates, zero-width
  characters, U+2028/U+2029, lone surrogates, unassigned code points;
- NFC-normalised, with runs of whitespace made one space and trimmed;
- at most :data:`MAX_CHARS` characters, keeping a short extension when it has to cut.

An empty result is ``None``: the upload simply has no name. The function is pure and idempotent.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 255
MAX_EXTENSION = 16  # a longer "extension" is just part of a long name
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# ANSI escape sequences (``ESC [ ... final``, terminated ``ESC ] ... BEL``) are dropped whole, so no "[31m"
# debris is left; any other ESC or C1 control is dropped as a single character below (never more text).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_SPACES = re.compile(r"\s+")


def clean_file_name(raw: str | None) -> str | None:
    """``raw`` made safe to store, show and send on (see the module docstring); ``None`` if nothing is left."""
    if raw is None:
        return None
    # The base name first: nothing below can make a separator, and no escape sequence can hide one.
    text = raw.replace("\\", "/").rsplit("/", 1)[-1]
    text = _ANSI.sub("", text)
    text = "".join(c for c in text if unicodedata.category(c) not in _DROP_CATEGORIES)
    text = unicodedata.normalize("NFC", text)
    # Normalising only composes characters; it cannot bring a dropped category back, but drop again so the
    # function stays idempotent whatever the Unicode tables say.
    text = "".join(c for c in text if unicodedata.category(c) not in _DROP_CATEGORIES)
    text = _SPACES.sub(" ", text).strip()
    if text in {"", ".", ".."}:
        return None
    return _bounded(text)


def _bounded(name: str) -> str:
    if len(name) <= MAX_CHARS:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= MAX_EXTENSION:
        keep = MAX_CHARS - len(ext) - 1
        return f"{stem[:keep].rstrip()}.{ext}"
    return name[:MAX_CHARS].rstrip()
