"""The report command against the running services: what it writes, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report import runs
from tests.report.conftest import GAMES, StoredRuns, write_report
from tests.report.embedded import report_summary, report_trajectories


def test_every_episode_of_every_run_is_in_the_report_once(stored_runs: StoredRuns, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    written = write_report(
        stored_runs.store, out, "--run-id", stored_runs.expert, "--run-id", stored_runs.random
    )
    assert written.returncode == 0, written.stderr
    assert f"{2 * GAMES} episodes" in written.stdout
    summary = report_summary(out)
    details = report_trajectories(out)
    assert [run["run_id"] for run in summary["runs"]] == [stored_runs.expert, stored_runs.random]
    expected = [
        t
        for run_id in (stored_runs.expert, stored_runs.random)
        for t in runs.stored(stored_runs.store, run_id)
    ]
    assert [e["id"] for e in summary["episodes"]] == [t.trajectory_id for t in expected]
    assert [[s["action"] for s in d["steps"]] for d in details] == [
        [s.action for s in t.steps] for t in expected
    ]
    assert summary["generated"] is True
    # Same games in both runs: every game the expert won and the random policy lost has flipped.
    (flip,) = summary["flips"]
    assert flip["common"] == GAMES
    won_by_expert_only = {summary["games"][g]["id"] for g in flip["won_in_a_only"]}
    expert, random = (runs.stored(stored_runs.store, r) for r in (stored_runs.expert, stored_runs.random))
    random_won = {t.game.game_id for t in random if t.won}
    assert won_by_expert_only == {t.game.game_id for t in expert if t.won} - random_won


def test_expert_plans_come_from_the_env_when_no_expert_run_is_given(
    stored_runs: StoredRuns, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    written = write_report(stored_runs.store, out, "--run-id", stored_runs.random, "--env", stored_runs.env)
    assert written.returncode == 0, written.stderr
    games = report_summary(out)["games"]
    expert_won = {t.game.game_id: t for t in runs.stored(stored_runs.store, stored_runs.expert) if t.won}
    assert all(game["plan_source"].startswith("EnvService") for game in games)
    for game in games:
        if game["id"] in expert_won:
            assert game["plan"] == [step.action for step in expert_won[game["id"]].steps]


def test_the_env_may_be_named_as_replicas_like_env_addr(stored_runs: StoredRuns, tmp_path: Path) -> None:
    """A replica that does not answer is passed over, as the agent passes it over."""
    out = tmp_path / "report.html"
    replicas = f"127.0.0.1:1,{stored_runs.env}"
    written = write_report(stored_runs.store, out, "--run-id", stored_runs.random, "--env", replicas)
    assert written.returncode == 0, written.stderr
    games = report_summary(out)["games"]
    assert games and all(game["plan"] and game["plan_source"].startswith("EnvService") for game in games)

    refused = write_report(stored_runs.store, out, "--run-id", stored_runs.random, "--env", "ftp://env:1")
    assert refused.returncode == 2
    assert "--env" in refused.stderr and "dns:///name:port" in refused.stderr


def test_without_an_expert_run_or_env_the_games_have_no_plan(stored_runs: StoredRuns, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert write_report(stored_runs.store, out, "--run-id", stored_runs.random).returncode == 0
    assert all(game["plan"] is None for game in report_summary(out)["games"])


def test_an_unknown_run_id_writes_nothing_and_says_which(stored_runs: StoredRuns, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    written = write_report(stored_runs.store, out, "--run-id", stored_runs.expert, "--run-id", "no-such-run")
    assert written.returncode == 2
    assert "no trajectories stored for run id(s): no-such-run;" in written.stderr
    assert not out.exists()


def test_a_malformed_run_id_is_refused_by_the_store(stored_runs: StoredRuns, tmp_path: Path) -> None:
    written = write_report(stored_runs.store, tmp_path / "r.html", "--run-id", "bad id/..")
    assert written.returncode == 2
    assert "INVALID_ARGUMENT" in written.stderr


def test_an_unreachable_store_is_an_error(tmp_path: Path) -> None:
    written = write_report("127.0.0.1:1", tmp_path / "r.html", "--run-id", "any")
    assert written.returncode == 2
    assert "UNAVAILABLE" in written.stderr
    assert not (tmp_path / "r.html").exists()


def test_no_run_id_is_an_error(tmp_path: Path) -> None:
    written = write_report("127.0.0.1:1", tmp_path / "r.html")
    assert written.returncode == 2
    assert "give --run-id" in written.stderr


def test_latest_is_the_run_stored_last(stored_runs: StoredRuns, tmp_path: Path) -> None:
    if stored_runs.store_dir is None:
        pytest.skip("the store's directory is not visible to the tests (services started elsewhere)")
    runs.store_html_run(stored_runs.store, "report-latest-check")
    out = tmp_path / "report.html"
    written = write_report(stored_runs.store, out, "--latest", "--store-dir", str(stored_runs.store_dir))
    assert written.returncode == 0, written.stderr
    assert [run["run_id"] for run in report_summary(out)["runs"]] == ["report-latest-check"]
