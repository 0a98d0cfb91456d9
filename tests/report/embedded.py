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
    """Each episode's detail, its steps as objects (the file holds them as rows of step_fields)."""
    page = path.read_text(encoding="utf-8")
    fields = report_summary(path)["trajectories"]["step_fields"]
    episodes = [
        episode
        for line in _block(page, "report-trajectories").split()
        for episode in json.loads(gzip.decompress(base64.b64decode(line)))
    ]
    return [{**e, "steps": [dict(zip(fields, row, strict=True)) for row in e["steps"]]} for e in episodes]


def everything_embedded(path: Path) -> str:
    """The file's text with the packed trajectories unpacked: what a secret must not be in."""
    return path.read_text(encoding="utf-8") + json.dumps(report_trajectories(path))
