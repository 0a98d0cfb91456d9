"""Page tokens for ListTrajectories and ListSkillLibraries: opaque to clients, checked by the store.

A token is URL-safe base64 of (format version, position in the filter's list, an 8-byte BLAKE2b
digest of the position and the filters, or of the list's name). The digest rejects garbled tokens
and tokens reused with different filters or for another list. It is keyless on purpose: positions
survive a restart (the index is rebuilt in log order), so a client can keep paging across one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from typing import cast

from alfagent_common.errors import InvalidRequest
from store_service.index import ListFilter

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_VERSION = 1
_LAYOUT = struct.Struct(">BQ8s")


def _digest(scope: str, position: int) -> bytes:
    text = f"{_VERSION}\0{scope}\0{position}"
    return hashlib.blake2b(text.encode(), digest_size=8).digest()


def _scope(selection: ListFilter) -> str:
    return f"{selection.run_id}\0{selection.task_type}\0{selection.won}"


def encode_token(selection: ListFilter, position: int) -> str:
    return encode_position(_scope(selection), position)


def decode_token(token: str, selection: ListFilter, available: int) -> int:
    """The position a token stands for; InvalidRequest unless this store issued it for `selection`."""
    return decode_position(token, _scope(selection), available, "these filters (run_id, task_type, won)")


def encode_position(scope: str, position: int) -> str:
    """A token for `position` in the list named `scope` (a filter's values, or another list's name)."""
    raw = _LAYOUT.pack(_VERSION, position, _digest(scope, position))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(token: str, scope: str, available: int, issued_for: str) -> int:
    """The position a token stands for; InvalidRequest unless this store issued it for `scope`."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, position, digest = cast(tuple[int, int, bytes], _LAYOUT.unpack(raw))
    except (binascii.Error, ValueError, struct.error):
        raise InvalidRequest(f"page_token {token[:40]!r} is not a page token this store issued") from None
    if version != _VERSION or digest != _digest(scope, position) or position > available:
        raise InvalidRequest(
            f"page_token {token[:40]!r} was not issued for {issued_for}; start again without a page_token"
        )
    return position


def check_page_size(page_size: int) -> int:
    """0 means the default; larger than the maximum is lowered to it; negative is an error."""
    if page_size < 0:
        raise InvalidRequest(f"page_size must not be negative, got {page_size}")
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
