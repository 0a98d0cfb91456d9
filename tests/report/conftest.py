"""Fixtures of the report tests: stored runs of the running services, reports of them, a browser.

The browser is Debian's chromium (`apt-get install chromium`), driven by playwright with
`executable_path`, a fresh profile per test module and the flags the README names; playwright
never downloads a browser of its own here. Without chromium the browser tests skip with the
reason, unless ALFAGENT_REQUIRE_BROWSER=1 (CI sets it), which makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

from alfagent.agent.v1 import agent_pb2
from tests.conftest import Services
from tests.report import runs

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Games per evaluation: round-robin over the 6 task types, so one game of each.
GAMES = 6


@dataclass(frozen=True)
class StoredRuns:
    store: str
    expert: str
    random: str
    llm_error: str
    html: str
    store_dir: Path | None
    env: str
    summaries: dict[str, agent_pb2.EvaluationSummary]


@pytest.fixture(scope="session")
def stored_runs(services: Services) -> StoredRuns:
    """EXPERT and RANDOM runs of the same games played by the services, and two stored edge cases."""
    tag = uuid.uuid4().hex[:8]
    stored = StoredRuns(
        store=services.store,
        expert=f"report-expert-{tag}",
        random=f"report-random-{tag}",
        llm_error=f"report-llm-error-{tag}",
        html=f"report-html-{tag}",
        store_dir=services.store_dir,
        env=services.env,
        summaries={},
    )
    for run_id, policy in ((stored.expert, "EXPERT"), (stored.random, "RANDOM")):
        stored.summaries[run_id] = runs.evaluate(services.agent, run_id, policy, GAMES)
    runs.store_llm_error_run(services.store, stored.llm_error)
    runs.store_html_run(services.store, stored.html)
    return stored


def write_report(store: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m agent_service report …` as a user runs it."""
    command = [sys.executable, "-m", "agent_service", "report", "--store", store, "--out", str(out), *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def chromium_path() -> str | None:
    return os.environ.get("ALFAGENT_CHROMIUM") or shutil.which("chromium")


# Module scope, not session: playwright's sync API keeps an asyncio loop running in this thread
# while it is open, and every later test that calls asyncio.run() would then fail.
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    executable = chromium_path()
    if executable is None:
        reason = "no chromium on PATH (Debian: apt-get install -y chromium)"
        if os.environ.get("ALFAGENT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ALFAGENT_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
