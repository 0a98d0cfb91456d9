"""The expert plan a session reset `with_expert_plan` gets: the walkthrough, then one replan per deviation."""

from __future__ import annotations

import functools
import logging
import os
import time

import pytest

from env_service import runtime
from env_service.config import EnvConfig
from env_service.games.catalog import Catalog
from env_service.games.names import TASK_TYPES
from env_service.runtime import EnvPool, GameRun, run_forked
from launcher.processes import REPO_ROOT
from tests.env.detours import walk_then_detour

CATALOG = Catalog.from_roots([REPO_ROOT / "env_service" / "data"])


@pytest.mark.parametrize("replan_seconds", [None, 60.0], ids=["no-deadline", "deadline"])
def test_the_planner_runs_once_per_deviation_and_its_plan_wins(replan_seconds: float | None) -> None:
    game = CATALOG.select("generated_eval", "pick_and_place_simple", 0)
    run = GameRun(EnvPool().take(), str(game.path), with_expert_plan=True, replan_seconds=replan_seconds)
    walkthrough = run.reset().expert_plan
    assert walkthrough and run.replans == 0

    # Following the walkthrough needs no planner.
    first = run.step(walkthrough[0])
    assert first.expert_plan == walkthrough[1:] and run.replans == 0

    # A deviation: the planner is asked once, from the state reached.
    detour = next(c for c in first.admissible_commands if c.startswith("go to") and c != walkthrough[1])
    observation = run.step(detour)
    plan = observation.expert_plan
    assert plan and run.replans == 1

    # Following the new plan asks nothing more, and it wins.
    for number, action in enumerate(plan):
        observation = run.step(action)
        assert observation.expert_plan == (plan[number + 1 :] if not observation.won else ())
    assert observation.won and run.replans == 1


def test_a_replan_past_its_deadline_gives_no_plan_and_the_game_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    game = CATALOG.select("generated_eval", "pick_and_place_simple", 0)
    run = GameRun(EnvPool().take(), str(game.path), with_expert_plan=True, replan_seconds=0.000001)
    walkthrough = run.reset().expert_plan
    with caplog.at_level(logging.WARNING):
        detour = next(c for c in run.step("look").admissible_commands if c.startswith("go to"))
        observation = run.step(detour)
    assert observation.expert_plan == () and run.replans == 2
    assert any(record.getMessage().startswith("gave up replanning") for record in caplog.records)
    assert walkthrough and observation.admissible_commands  # the session still plays


def slow_plan() -> list[str]:
    time.sleep(30)
    return ["never"]


def test_run_forked_kills_a_planner_that_overruns() -> None:
    started = time.monotonic()
    assert run_forked(slow_plan, 0.3) is None
    assert time.monotonic() - started < 5
    assert run_forked(lambda: ["go to desk 1", "take pen 1 from desk 1"], 5) == [
        "go to desk 1",
        "take pen 1 from desk 1",
    ]
    assert run_forked(lambda: [str(os.getpid())], 5) != [str(os.getpid())]  # another process ran it


def test_the_replan_deadline_is_configured_by_env_replan_seconds() -> None:
    assert EnvConfig.from_environ({}).replan_seconds == 30.0
    assert EnvConfig.from_environ({"ENV_REPLAN_SECONDS": "5"}).replan_seconds == 5.0
    assert EnvConfig.from_environ({"ENV_REPLAN_SECONDS": "0"}).replan_seconds is None


def test_a_big_kitchen_is_replanned_on_the_reduced_problem_in_seconds_and_the_plan_wins() -> None:
    # Planning this state on the whole problem took 68 s here (two butter knives, 55 objects;
    # bench/RESULTS.md), past the 20 s given.
    game = CATALOG.select("generated_eval", "pick_two_obj_and_place", 2)
    run = GameRun(EnvPool().take(), str(game.path), with_expert_plan=True, replan_seconds=20.0)
    observation, seconds = walk_then_detour(run)
    plan = observation.expert_plan
    assert plan and run.replans == 1 and seconds < 10
    for action in plan:
        observation = run.step(action)
    assert observation.won and run.replans == 1


def test_a_reduced_plan_that_does_not_win_is_replaced_by_a_whole_problem_plan(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runtime, "WHOLE_PROBLEM_FIRST_SECONDS", 0.0)  # straight to the reduced problem
    monkeypatch.setattr(GameRun, "_plan_on_reduced_problem", lambda self: ["look", "inventory"])
    game = CATALOG.select("generated_eval", "pick_and_place_simple", 0)
    run = GameRun(EnvPool().take(), str(game.path), with_expert_plan=True, replan_seconds=60.0)
    with caplog.at_level(logging.INFO):
        plan = walk_then_detour(run)[0].expert_plan
    assert plan and plan != ("look", "inventory")
    assert any(
        record.getMessage().startswith("the reduced problem gave no winning plan")
        for record in caplog.records
    )
    for action in plan:
        observation = run.step(action)
    assert observation.won


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_the_reduced_problem_gives_a_winning_plan_for_every_task_type(task_type: str) -> None:
    game = CATALOG.select("generated_eval", task_type, 0)
    run = GameRun(EnvPool().take(), str(game.path), with_expert_plan=False)
    walk_then_detour(run)
    plan = run_forked(run._plan_on_reduced_problem, 60)
    assert plan, "the reduced problem has no plan"
    assert run_forked(functools.partial(run._wins_with, plan), 60) is True
