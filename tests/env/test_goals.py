"""goal_progress: the fraction of the goal's changeable conditions that hold, from the PDDL state."""

from __future__ import annotations

import json

from env_service import speedups
from env_service.games.catalog import Catalog
from env_service.goals import GoalProgress
from env_service.runtime import EnvPool, GameRun
from launcher.processes import REPO_ROOT

CATALOG = Catalog.from_roots([REPO_ROOT / "env_service" / "data"])


def progress_along_walkthrough(task_type: str) -> list[tuple[str, float]]:
    speedups.install()
    game = CATALOG.select("generated_eval", task_type, 0)
    run = GameRun(EnvPool().take(), str(game.path), with_expert_plan=False)
    start = run.reset()
    trace = [("", start.goal_progress)]
    for action in json.loads(game.path.read_text())["walkthrough"]:
        trace.append((action, run.step(action).goal_progress))
    return trace


def test_heating_counts_half_of_a_heat_and_place_goal() -> None:
    trace = progress_along_walkthrough("pick_heat_then_place_in_recep")
    assert trace[0][1] == 0.0 and trace[-1][1] == 1.0
    after_heat = next(progress for action, progress in trace if action.startswith("heat "))
    assert after_heat == 0.5


def test_the_first_of_two_objects_placed_counts_half() -> None:
    trace = progress_along_walkthrough("pick_two_obj_and_place")
    placed = [progress for action, progress in trace if action.startswith("move ")]
    assert placed == [0.5, 1.0]


def test_static_conditions_pick_objects_but_never_count() -> None:
    domain = (REPO_ROOT / "env_service" / "data").rglob("game.tw-pddl").__next__()
    game = json.loads(domain.read_text())
    goal = GoalProgress.from_pddl(game["pddl_domain"], game["pddl_problem"])
    # With no facts at all, no binding satisfies the static constraints: nothing is achieved.
    assert goal.measure_facts([]) == 0.0
    # The PDDL translator lower-cases every name.
    assert {"objecttype", "receptacletype", "receptacleatlocation", "heatable"} <= goal._static
    assert not {"inreceptacle", "ishot", "holds", "istoggled", "isclean", "iscool"} & goal._static
