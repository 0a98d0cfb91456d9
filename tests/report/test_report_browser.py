"""Reports of real runs opened in headless Chromium: what a person sees, and nothing run that should not."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext

from alfagent_common import run_stats
from bench.run_comparison import p_text
from tests.report import runs
from tests.report.browser_page import CHARTS, open_report
from tests.report.conftest import REPO, StoredRuns, write_report
from tests.report.embedded import everything_embedded

# Kept for CI as an artefact; the README names this path.
SCREENSHOT = REPO / ".run" / "report-screenshot.png"


def test_a_report_of_real_runs_draws_every_chart_and_shows_a_chosen_episode(
    stored_runs: StoredRuns, browser: BrowserContext, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    written = write_report(
        stored_runs.store, out, "--run-id", stored_runs.expert, "--run-id", stored_runs.random
    )
    assert written.returncode == 0, written.stderr
    report = open_report(browser, out)

    assert report.errors == []
    # Two runs: every chart has one trace per run, drawn as Plotly's SVG.
    assert report.charts_drawn() == dict.fromkeys(CHARTS, 2)
    for chart in CHARTS:
        assert report.page.locator(f"#{chart} svg.main-svg").count() >= 1, chart
    assert report.page.locator("#not-comparable").is_visible()

    random_episode = runs.stored(stored_runs.store, stored_runs.random)[2]
    expert_episode = next(
        t
        for t in runs.stored(stored_runs.store, stored_runs.expert)
        if t.game.game_id == random_episode.game.game_id
    )
    report.choose(stored_runs.random, random_episode.game.game_id)
    steps = report.page.locator("#episode .step")
    # The opening, then one card per step, each with the command the store holds.
    assert steps.count() == len(random_episode.steps) + 1
    shown_actions = report.page.locator("#episode .step .action").all_inner_texts()
    assert shown_actions == [step.action for step in random_episode.steps]
    assert random_episode.steps[0].observation.strip() in steps.nth(1).inner_text()
    # Admissible commands appear when asked for.
    first_step = steps.nth(1)
    assert first_step.locator("details.admissible li").count() == 0
    first_step.locator("details.admissible summary").click()
    first_step.locator("details.admissible li").first.wait_for()  # filled by the toggle event
    assert first_step.locator("details.admissible li").all_inner_texts() == list(
        random_episode.steps[0].admissible_commands
    )
    # The expert's plan beside it comes from the EXPERT run of the same game.
    plan = report.page.locator("#expert ol li").all_inner_texts()
    assert plan == [step.action for step in expert_episode.steps]
    assert stored_runs.expert in report.page.locator("#expert").inner_text()

    SCREENSHOT.parent.mkdir(exist_ok=True)
    report.page.screenshot(path=str(SCREENSHOT), full_page=True)

    # A flipped game opens in the viewer from its link: the random run's (lost) episode of it.
    link = report.page.locator("#flips-body a.view-link", has_text=f"lost in {stored_runs.random}").first
    flipped_game = link.locator("xpath=..").inner_text().split(" · ")[1].split(" ")[0]
    link.click()
    lost = next(
        t for t in runs.stored(stored_runs.store, stored_runs.random) if t.game.game_id == flipped_game
    )
    report.page.wait_for_selector(f'#episode:has-text("{lost.trajectory_id}")')
    assert report.page.locator("#episode .step .action").all_inner_texts() == [s.action for s in lost.steps]

    # The comparison a reader needs to believe the difference: McNemar's exact p over the games
    # won in one run only, the paired rates by task type, and how each run's commands went.
    counted = {
        run_id: run_stats.counted([run_stats.episode_of(t) for t in runs.stored(stored_runs.store, run_id)])
        for run_id in (stored_runs.expert, stored_runs.random)
    }
    pair = run_stats.paired_games(counted[stored_runs.expert], counted[stored_runs.random])
    said = report.page.locator("#flips-body .mcnemar").inner_text()
    assert f"{stored_runs.expert} only {len(pair.won_in_a_only)}, " in said
    # Written as `bench_llm compare` writes it.
    assert f"Exact McNemar {p_text(pair.p_value)} (two-sided" in said
    paired_rows = report.page.locator("#flips-body table.paired tr").all_inner_texts()
    assert len(paired_rows) == 1 + len(pair.by_task_type)
    behaviour = report.page.locator("#behaviour-table tr").all_inner_texts()
    expert = run_stats.behaviour(counted[stored_runs.expert])
    assert f"steps\t{expert.steps}\t{run_stats.behaviour(counted[stored_runs.random]).steps}" in behaviour
    assert any(row.startswith("commands not admissible\t") for row in behaviour)
    report.page.close()


def test_the_success_table_agrees_with_the_agents_evaluation_summary(
    stored_runs: StoredRuns, browser: BrowserContext, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    assert write_report(stored_runs.store, out, "--run-id", stored_runs.expert).returncode == 0
    report = open_report(browser, out)
    rows = report.page.locator("#success-table tr").all_inner_texts()
    summary = stored_runs.summaries[stored_runs.expert]
    for row in [*summary.by_task_type, summary.overall]:
        expected = (
            f"{row.task_type}\t{100 * row.success_rate:.1f}% ({row.wins}/{row.episodes}) "
            f"[{100 * row.success_ci_low:.1f}%\u2013{100 * row.success_ci_high:.1f}%]"
        )
        assert expected in rows
    report.page.close()


def test_html_and_script_in_a_trajectory_are_shown_as_text_never_run(
    stored_runs: StoredRuns, browser: BrowserContext, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    assert write_report(stored_runs.store, out, "--run-id", stored_runs.html).returncode == 0
    report = open_report(browser, out)
    page = report.page

    assert report.errors == []
    assert page.evaluate("window.__injected") is None
    step = page.locator("#episode .step").nth(1)
    assert step.locator(".thought").inner_text() == runs.INJECTED_THOUGHT
    assert step.locator(".action").inner_text() == runs.INJECTED_ACTION
    assert runs.INJECTED_OBSERVATION in step.inner_text()
    assert page.locator("#episode .step").nth(0).inner_text().count("<script>window.__injected") == 1
    assert page.locator("#episode img, #episode script, #episode b, #episode i").count() == 0
    step.locator("details.admissible summary").click()
    # The list is filled by the details' toggle event, which fires after the click returns.
    step.locator("details.admissible li").first.wait_for()
    assert "<i>inventory</i>" in step.locator("details.admissible li").all_inner_texts()
    # Plotly's own markup too: the model named "<b>model</b>" is printed as typed.
    assert "<b>model</b>" in report.chart_texts("chart-success")
    assert "<b>model</b>" in report.chart_texts("chart-seconds")
    # The file holds exactly its four script elements: no text closed one or opened another.
    assert out.read_text().count("</script>") == 4
    page.close()


def test_a_run_that_ended_in_llm_errors_shows_the_errors_and_the_retries(
    stored_runs: StoredRuns, browser: BrowserContext, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    assert write_report(stored_runs.store, out, "--run-id", stored_runs.llm_error).returncode == 0
    report = open_report(browser, out)
    page = report.page

    assert report.errors == []
    assert "LLM call failed after 6 attempts" in page.locator("#episode .error").inner_text()
    retries = page.evaluate("document.getElementById('chart-retries').data[0]")
    assert dict(zip(retries["x"], retries["y"], strict=True)) == {"503": 1, "connection": 10}
    ends = page.evaluate("document.getElementById('chart-end-reasons').data[0]")
    assert dict(zip(ends["x"], ends["y"], strict=True)) == {"LLM_ERROR": 2}
    settings = page.locator("#settings-table").inner_text()
    assert "http://llm.example:8080" in settings
    text = everything_embedded(out)
    assert "llm.example" in text
    assert "hunter2" not in text and "sk-secret" not in text
    page.close()
