"""Progress lines on stderr, flushed at once so `make` and container builds show them as they happen."""

from __future__ import annotations

import sys
import time


def log(message: str) -> None:
    print(f"[llm] {message}", file=sys.stderr, flush=True)


def elapsed(started: float) -> str:
    seconds = time.monotonic() - started
    return f"{seconds:.1f} s" if seconds < 120 else f"{int(seconds // 60)} min {int(seconds % 60)} s"
