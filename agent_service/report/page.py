"""The report's HTML: one file, with plotly.js, the data and the page's own script each embedded once.

- Summary data (charts, tables, game list): JSON in `<script type="application/json">`, with `<`,
  `>` and `&` written as `\\u003c`… so no text in it can close the element or open a tag.
- The trajectories (every step's text and admissible commands, the bulk of the data): JSON, gzipped
  and base64-encoded by chunks of episodes in a second `<script type="application/octet-stream">`;
  the page inflates a chunk with the browser's own `DecompressionStream` when it shows one of its
  episodes. Step text repeats itself (admissible commands, observations), so this keeps a
  1,000-episode report ~4 MB instead of ~20.
- A Content-Security-Policy allows only the two scripts this file carries (by their SHA-256) and no
  network at all: even text that slipped into the page as HTML could neither run nor fetch.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import re
from importlib import resources
from typing import Any

STATIC = resources.files("agent_service.report") / "static"
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


# npm plotly.js-cartesian-dist-min 4.1.1 (bar, box, histogram, scatter: all the report draws),
# vendored by tools/vendor-plotly.sh: 1.5 MB against the full bundle's 4.8 MB, which took ~2.3 s
# to parse on first opening on these machines.
PLOTLY_FILE = "plotly-cartesian.min.js"
PLOTLY_SHA256 = "79542150855a52c567260e3137095dbe2b744e6d702a5cabe67da246942fba7a"


def plotly_js() -> str:
    """The vendored plotly.js, checked against its pinned SHA-256."""
    source = (STATIC / "vendor" / PLOTLY_FILE).read_bytes()
    if hashlib.sha256(source).hexdigest() != PLOTLY_SHA256:
        raise RuntimeError(f"{PLOTLY_FILE} is not the pinned plotly.js (see tools/vendor-plotly.sh)")
    return source.decode("utf-8")


def script_safe_json(value: Any) -> str:
    """JSON that can sit inside a `<script>` element: no `</script>`, `<!--` or tag can appear."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return re.sub("[<>&\u2028\u2029]", lambda match: _JSON_ESCAPES[match.group()], text)


def packed_chunks(episodes: list[Any], chunk_size: int) -> str:
    """One line per `chunk_size` episodes: gzip + base64 of their JSON (mtime 0: same data, same bytes).

    Chunks, so that opening the page inflates only the chunk of the episode it shows (inflating
    all 1,000 episodes of the benchmark took ~0.6 s of the page's opening). Level 3: on the
    benchmark's 19 MB of JSON it took 0.23 s against level 6's 0.57 s, for 1.26 MB against 0.91 MB.
    """
    lines = []
    for start in range(0, len(episodes), chunk_size):
        raw = json.dumps(episodes[start : start + chunk_size], ensure_ascii=False, separators=(",", ":"))
        lines.append(base64.b64encode(gzip.compress(raw.encode(), compresslevel=3, mtime=0)).decode("ascii"))
    return "\n".join(lines)


def _script_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def _inline_script(source: str) -> str:
    # An inline script ends at the first `</script`: neither plotly.min.js nor ours may hold one.
    if re.search(r"</script", source, re.IGNORECASE):
        raise ValueError("an embedded script contains '</script'")
    return source


def render(title: str, summary: dict[str, Any], details: dict[str, Any], chunk_size: int = 50) -> str:
    """The page; `details` is {step_fields, episodes}, episodes in the order of summary["episodes"]."""
    plotly = _inline_script(plotly_js())
    script = _inline_script((STATIC / "report.js").read_text(encoding="utf-8"))
    csp = (
        "default-src 'none'; "
        f"script-src {_script_hash(plotly)} {_script_hash(script)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
    )
    parts = {
        "TITLE": html.escape(title),
        "CSP": html.escape(csp, quote=True),
        "STYLE": (STATIC / "report.css").read_text(encoding="utf-8"),
        "PLOTLY": plotly,
        "DATA": script_safe_json(
            {**summary, "trajectories": {"step_fields": details["step_fields"], "chunk_size": chunk_size}}
        ),
        "TRAJECTORIES": packed_chunks(details["episodes"], chunk_size),
        "SCRIPT": script,
    }
    template = (STATIC / "report.html").read_text(encoding="utf-8")
    # One pass: text put in is never searched for placeholders again.
    return _PLACEHOLDER.sub(lambda match: parts[match.group(1)], template)
