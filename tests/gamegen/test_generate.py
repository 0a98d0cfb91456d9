"""Tests for the offline game generator (gamegen).

They check what the shipped games rely on: a seed gives byte-identical games that alfworld's own
loader and our catalog load; task sentences are alfworld's; rooms and receptacle ids are complete
and escaped as ALFRED does; the rooms each task type can use match ALFRED's.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

from env_service.games.catalog import Catalog
from env_service.games.names import TASK_TYPES
from gamegen import scenes, tasks
from tests.env.alfworld_files import alfworld_game_files

REPO = Path(__file__).resolve().parents[2]


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_games(tmp_path: Path) -> None:
    from gamegen.generate import GenerateConfig, generate

    trees = []
    for run in ("a", "b"):
        config = GenerateConfig(
            split="gen_test",
            per_type=1,
            seed=7,
            out=tmp_path / run,
            floor_plans="eval",
            task_types=("pick_and_place_simple", "look_at_obj_in_light"),
        )
        report = generate(config, log=lambda _msg: None)
        assert {t: len(p) for t, p in report.written.items()} == {
            "pick_and_place_simple": 1,
            "look_at_obj_in_light": 1,
        }
        trees.append(_tree_bytes(tmp_path / run))
    assert len(trees[0]) == 4  # two games, two files each
    assert trees[0] == trees[1]

    # What was written is what alfworld and our catalog load, marked as ours.
    split_dir = tmp_path / "a" / "json_2.1.1" / "gen_test"
    assert len(alfworld_game_files(split_dir)) == 2
    games = Catalog.from_roots([tmp_path / "a"]).games("gen_test")
    assert [g.source for g in games] == ["generated", "generated"]
    traj = json.loads((games[0].path.parent / "traj_data.json").read_text())
    assert traj["alfagent_generated"] is True
    assert traj["alfagent_generator"]["seed"] == 7


def test_task_sentences_come_from_alfworld_templates() -> None:
    from alfworld.agents.utils.misc import get_templated_task_desc

    params = tasks.TaskParams("look_at_obj_in_light", "Bowl", toggle_target="DeskLamp")
    traj = {"task_type": params.task_type, "pddl_params": params.pddl_params()}
    alfworld_sentences = {get_templated_task_desc(traj) for _ in range(50)}
    ours = {tasks.task_sentence(params, random.Random(seed)) for seed in range(50)}
    assert (
        ours
        == alfworld_sentences
        == {"look at bowl under the desklamp", "examine the bowl with the desklamp"}
    )


def test_scenes_complete_what_alfworld_only_names() -> None:
    kitchen = scenes.load_scene(1)
    classes = Counter(r.cls for r in kitchen.receptacles)
    assert classes["StoveBurner"] == 4 and classes["CoffeeMachine"] == 1 and classes["Toaster"] == 1
    assert all(
        r.id.startswith("Sink|") and r.id.endswith("|SinkBasin") for r in kitchen.receptacles_of("SinkBasin")
    )
    # The agent's start poses are away from every receptacle.
    used = {(r.pose.x, r.pose.z) for r in kitchen.receptacles}
    assert kitchen.free_poses() and all((p.x, p.z) not in used for p in kitchen.free_poses())


def test_every_floor_plan_has_unique_escaped_receptacle_ids() -> None:
    from gamegen.problem import escape_pddl

    for number in scenes.floor_plan_numbers():
        ids = [escape_pddl(r.id).lower() for r in scenes.load_scene(number).receptacles]
        assert len(ids) == len(set(ids)), f"FloorPlan{number} repeats a receptacle id"
        assert all(
            not r.cls.endswith("Basin") or "basin" in r.id.lower()
            for r in scenes.load_scene(number).receptacles
        )


def test_eligible_floor_plans_match_alfred() -> None:
    from gamegen.generate import eligible_floor_plans

    counts = {t: len(eligible_floor_plans(t)) for t in TASK_TYPES}
    assert counts == {
        "pick_and_place_simple": 120,
        "look_at_obj_in_light": 27,
        "pick_clean_then_place_in_recep": 60,
        "pick_heat_then_place_in_recep": 30,
        "pick_cool_then_place_in_recep": 30,
        "pick_two_obj_and_place": 120,
    }
    for t in TASK_TYPES:
        train, test = set(eligible_floor_plans(t, "train")), set(eligible_floor_plans(t, "eval"))
        assert train and test and not train & test


def test_the_cli_lists_what_the_catalog_serves() -> None:
    # `python -m gamegen` is the documented entry point (env_service/data/README.md).
    listed = subprocess.run(
        [sys.executable, "-m", "gamegen", "list", "--root", "env_service/data", "--split", "generated_train"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    served = Catalog.from_roots([REPO / "env_service" / "data"]).games("generated_train")
    assert [line.split("\t")[0] for line in listed] == [game.game_id for game in served]
    assert served and all(line.split("\t")[1] == "generated" for line in listed)
