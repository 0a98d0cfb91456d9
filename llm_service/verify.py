"""Checking a model file against its recorded SHA-256, and the `.verified` stamp that remembers it.

Hashing the 1.1 GB default model takes seconds (see llm_service/README.md), so a successful check
is remembered in `<file>.verified` together with the file's size, mtime and inode. The stamp is
only a memo: any change to the file (rewritten, truncated, replaced) changes those and the stamp
no longer counts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llm_service.models import ModelSpec

CHUNK = 4 << 20


def sha256_file(path: Path, on_progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done)
    return digest.hexdigest()


def stamp_path(model_file: Path) -> Path:
    return model_file.with_name(model_file.name + ".verified")


def _identity(model_file: Path) -> dict[str, int]:
    status = model_file.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns, "inode": status.st_ino}


def write_stamp(model_file: Path, sha256: str) -> None:
    stamp = {
        "sha256": sha256,
        **_identity(model_file),
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    partial = stamp_path(model_file).with_suffix(".partial")
    partial.write_text(json.dumps(stamp, indent=1) + "\n")
    os.replace(partial, stamp_path(model_file))


def stamp_matches(model_file: Path, sha256: str) -> bool:
    """True when a stamp says this very file (same size, mtime, inode) was hashed to `sha256`."""
    try:
        stamp = json.loads(stamp_path(model_file).read_text())
        identity = _identity(model_file)
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("sha256") == sha256
        and all(stamp.get(key) == value for key, value in identity.items())
    )


@dataclass(frozen=True)
class Problem:
    """Why a model file may not be served; `message` is one line for a person."""

    message: str


def check_model_file(
    model_file: Path, model: ModelSpec, *, trust_stamp: bool, on_progress: Callable[[int], None] | None = None
) -> Problem | None:
    """None when `model_file` is the model's file; otherwise what is wrong with it.

    The size is checked first, so a truncated file is refused without reading it.
    """
    expected = f"expected sha256 {model.sha256}"
    fetch_hint = f"run `python -m llm_service.fetch --model {model.name}`"
    if not model_file.is_file():
        return Problem(f"model file {model_file} is missing ({expected}); {fetch_hint}")
    size = model_file.stat().st_size
    if model.size_bytes and size != model.size_bytes:
        return Problem(
            f"model file {model_file} is truncated or wrong: {size} bytes, not {model.size_bytes} "
            f"({expected}); delete it and {fetch_hint}"
        )
    if trust_stamp and stamp_matches(model_file, model.sha256):
        return None
    actual = sha256_file(model_file, on_progress)
    if actual != model.sha256:
        with contextlib.suppress(OSError):
            stamp_path(model_file).unlink(missing_ok=True)
        return Problem(
            f"model file {model_file} is corrupt: sha256 {actual}, {expected}; delete it and {fetch_hint}"
        )
    # The stamp is only a memo; a read-only model folder (the llm image's) cannot keep one.
    with contextlib.suppress(OSError):
        write_stamp(model_file, actual)
    return None
