"""The two data blocks of a written report, read back as the page's script reads them."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path
from typing import Any


def _block(page: str, element_id: str) -> str:
    match = re.search(rf'<script type="[^"]+" id="{element_id}"[^>]*>(.*?)</script>', page, re.DOTALL)
    assert match is not None, f"no #{element_id} in the report"
    return match.group(1)


def report_summary(path: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(_block(path.read_text(encoding="utf-8"), "report-data"))
    return summary


def report_trajectories(path: Path) -> list[dict[str, Any]]:
    packed = _block(path.read_text(encoding="utf-8"), "report-trajectories")
    details: list[dict[str, Any]] = json.loads(gzip.decompress(base64.b64decode(packed)))
    return details


def everything_embedded(path: Path) -> str:
    """The file's text with the packed trajectories unpacked: what a secret must not be in."""
    return path.read_text(encoding="utf-8") + json.dumps(report_trajectories(path))
