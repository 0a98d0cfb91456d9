"""A report of an LLM run played by the real local model, opened in the browser.

Needs llama-server and the default model in the cache (`make llm`); without them the test is
skipped with the reason, unless ALFAGENT_REQUIRE_LLM=1 (CI sets it), which makes that a failure.
A short run (one game, 3 steps): the first call processes the whole few-shot prompt (~45-60 s on
2 CPU cores).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext

from launcher.llm import missing_parts
from launcher.stack import Stack, start_stack
from tests.conftest import scrubbed_environ
from tests.report import runs
from tests.report.browser_page import open_report
from tests.report.conftest import write_report

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack_with_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    cache = {
        n: os.environ[n] for n in ("ALFAGENT_CACHE", "LLM_MODEL_DIR", "LLAMA_SERVER") if os.environ.get(n)
    }
    missing = missing_parts(cache)
    if missing:
        reason = f"the local model is not built/fetched ({'; '.join(missing)}): run `make llm`"
        if os.environ.get("ALFAGENT_REQUIRE_LLM") == "1":
            pytest.fail(f"ALFAGENT_REQUIRE_LLM=1 but {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("report-llm")
    environ = scrubbed_environ(ENV_WORKERS="1", ENV_CATALOG_CACHE=str(root / "catalog.json"), **cache)
    stack = start_stack(run_dir=root / "logs", store_dir=root / "store", environ=environ, llm_port=0)
    try:
        yield stack
    finally:
        stack.stop()


def test_a_report_of_a_local_model_run_shows_its_output_tokens_and_weights(
    stack_with_llm: Stack, browser: BrowserContext, tmp_path: Path
) -> None:
    runs.evaluate(stack_with_llm.agent.address, "report-llm", "LLM", 1, max_steps=3)
    (episode,) = runs.stored(stack_with_llm.store.address, "report-llm")
    out = tmp_path / "report.html"
    written = write_report(stack_with_llm.store.address, out, "--run-id", "report-llm")
    assert written.returncode == 0, written.stderr
    report = open_report(browser, out)
    page = report.page

    assert report.errors == []
    tokens = page.evaluate("document.getElementById('chart-tokens').data[0].y")
    assert tokens == [episode.usage.prompt_tokens + episode.usage.completion_tokens] and tokens[0] > 0
    settings = page.locator("#settings-table").inner_text()
    assert episode.model in settings and episode.model_sha256 in settings
    assert episode.settings.prompt_mode in settings
    cards = page.locator("#episode .step")
    assert cards.count() == len(episode.steps) + 1
    for number, step in enumerate(episode.steps, start=1):
        if step.raw_output.strip():
            assert step.raw_output.strip() in cards.nth(number).inner_text()
    page.close()
