"""Paging of ``files.list``: newest first, ``pageSize`` 1..100 (default 10), opaque ``pageToken``.

The token names the last file of the previous page (its creation time and id), not an index, so files
deleted or added between two calls neither repeat nor vanish from the pages still to come.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


class _Listed(Protocol):
    @property
    def file_id(self) -> str: ...
    @property
    def created(self) -> float: ...


def _key(f: _Listed) -> tuple[float, str]:
    return (-f.created, f.file_id)


def _token(f: _Listed) -> str:
    return base64.urlsafe_b64encode(f"{f.created!r}|{f.file_id}".encode()).decode()


def _parse(token: str) -> tuple[float, str]:
    try:
        created, file_id = base64.urlsafe_b64decode(token.encode()).decode().split("|", 1)
        return (-float(created), file_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError(f"Invalid page token {token!r}.") from None


T = TypeVar("T", bound=_Listed)


def page_of(items: Sequence[T], page_size: int | None, page_token: str | None) -> tuple[list[T], str | None]:
    """One page of ``items`` and the token of the next page (None on the last page).

    Raises ``ValueError`` for a token this module did not make.
    """
    size = DEFAULT_PAGE_SIZE if not page_size or page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
    ordered = sorted(items, key=_key)
    if page_token:
        after = _parse(page_token)
        ordered = [f for f in ordered if _key(f) > after]
    page = ordered[:size]
    more = len(ordered) > size
    return page, (_token(page[-1]) if more and page else None)
