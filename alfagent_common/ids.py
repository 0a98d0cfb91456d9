"""Validation of the identifiers and labels clients send.

Trajectory and run ids: 1 to 200 characters from `[A-Za-z0-9._:-]`. That keeps them safe in
URLs, shell commands and jq filters, and rules out path separators and control characters.
Nothing in the store's directory is ever named after them: ids live only inside the JSON lines.
"""

from __future__ import annotations

import re

from alfagent_common.errors import InvalidRequest

MAX_ID_CHARS = 200
ID_ALPHABET = "A-Z a-z 0-9 . _ : -"
_ID_RE = re.compile(r"[A-Za-z0-9._:-]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_id(value: str, field: str) -> str:
    """Return `value` if it is a well-formed id, else raise InvalidRequest naming the problem."""
    if not value:
        raise InvalidRequest(f"{field} is required")
    if len(value) > MAX_ID_CHARS:
        raise InvalidRequest(f"{field} has {len(value)} characters; at most {MAX_ID_CHARS} are allowed")
    if _ID_RE.fullmatch(value) is None:
        bad = next(char for char in value if _ID_RE.fullmatch(char) is None)
        raise InvalidRequest(f"{field} {value!r} contains {bad!r}; only {ID_ALPHABET} are allowed")
    return value


def check_optional_id(value: str, field: str) -> str:
    """Like `check_id`, but an empty value (meaning "any" or "none") is accepted."""
    return check_id(value, field) if value else value


def check_label(value: str, field: str) -> str:
    """A free-text filter such as a task type: bounded length, no control characters."""
    if len(value) > MAX_ID_CHARS:
        raise InvalidRequest(f"{field} has {len(value)} characters; at most {MAX_ID_CHARS} are allowed")
    if _CONTROL_RE.search(value):
        raise InvalidRequest(f"{field} {value!r} contains control characters")
    return value
