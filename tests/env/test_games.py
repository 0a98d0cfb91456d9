"""Tests for the games env_service serves (env_service.games): the shipped data and the catalog.

They check what users rely on: the shipped games are the ones alfworld's own loader finds, each one
winnable by its stored walkthrough through textworld + alfworld's wrappers, with ALFWorld's opening
text; and the catalog's errors name the bad value and the valid ones. The generator that made the
shipped games is tested in tests/gamegen/.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from env_service.games.catalog import (
    Catalog,
    CatalogError,
    GameInfo,
    IndexOutOfRange,
    UnknownGame,
    UnknownSplit,
    UnknownTaskType,
)
from env_service.games.names import TASK_TYPES
from tests.env.alfworld_files import alfworld_game_files

DATA_ROOT = Path(__file__).resolve().parents[2] / "env_service" / "data"
SHIPPED_SPLITS = ("generated_eval", "generated_train")


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return Catalog.from_roots([DATA_ROOT])


# --- shipped data ------------------------------------------------------------------------------


@pytest.mark.parametrize("split", SHIPPED_SPLITS)
def test_shipped_games_load_through_alfworld_and_catalog_alike(shipped: Catalog, split: str) -> None:
    split_dir = DATA_ROOT / "json_2.1.1" / split
    alfworld_files = sorted(str(Path(p).resolve()) for p in alfworld_game_files(split_dir))
    ours = shipped.games(split)
    assert sorted(str(g.path.resolve()) for g in ours) == alfworld_files
    counts = Counter(g.task_type for g in ours)
    minimum = 20 if split == "generated_eval" else 4
    assert set(counts) == set(TASK_TYPES) and min(counts.values()) >= minimum
    assert all(g.source == "generated" and g.task and g.game_id.startswith(f"{split}/") for g in ours)


def test_shipped_train_and_eval_use_disjoint_floor_plans(shipped: Catalog) -> None:
    def plans(split: str) -> set[str]:
        return {g.game_id.split("/")[1].rsplit("-", 1)[1] for g in shipped.games(split)}

    assert plans("generated_train").isdisjoint(plans("generated_eval"))


def test_shipped_game_files_have_alfworld_fields(shipped: Catalog) -> None:
    for game in shipped.games():
        data = json.loads(game.path.read_text())
        assert set(data) == {"pddl_domain", "grammar", "pddl_problem", "solvable", "walkthrough"}
        assert data["solvable"] is True and data["walkthrough"]
        assert f"Your task is to: {game.task}." in data["grammar"]
        traj = json.loads((game.path.parent / "traj_data.json").read_text())
        params = traj["pddl_params"]
        for key in ("object_target", "parent_target", "toggle_target", "mrecep_target"):
            assert isinstance(params[key], str)
        assert params["object_sliced"] is False
        assert traj["scene"]["floor_plan"] == f"FloorPlan{traj['scene']['scene_num']}"
        assert traj["turk_annotations"]["anns"][0]["task_desc"] == game.task
        assert traj["alfagent_generated"] is True


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_shipped_walkthrough_wins(shipped: Catalog, task_type: str) -> None:
    from gamegen.verify import INTRO_START, make_env

    game = shipped.select("generated_eval", task_type, 0)
    walkthrough = json.loads(game.path.read_text())["walkthrough"]
    env = make_env()
    try:
        env.load(str(game.path))
        state = env.reset()
        assert str(state.feedback).startswith(INTRO_START)
        assert str(state.feedback).rstrip().endswith(f"Your task is to: {game.task}.")
        assert not state["won"]
        for command in walkthrough:
            assert command in state["admissible_commands"]
            state, _, _ = env.step(command)
        assert state["won"]
    finally:
        env.close()


# --- catalog -------------------------------------------------------------------------------------


def _fake_game(root: Path, split: str, task_dir: str, trial: str, **overrides: Any) -> Path:
    trial_dir = root / "json_2.1.1" / split / task_dir / trial
    trial_dir.mkdir(parents=True)
    traj = {"task_type": task_dir.split("-")[0], "pddl_params": {}}
    traj.update(overrides.pop("traj", {}))
    game = {"grammar": '"rhs": "Your task is to: put a pencil in shelf."', "solvable": True}
    game.update(overrides)
    (trial_dir / "traj_data.json").write_text(json.dumps(traj))
    (trial_dir / "game.tw-pddl").write_text(json.dumps(game))
    return trial_dir


def test_catalog_filters_like_alfworld(tmp_path: Path) -> None:
    _fake_game(tmp_path, "valid_seen", "pick_and_place_simple-Pencil-None-Shelf-308", "trial_T2")
    _fake_game(tmp_path, "valid_seen", "pick_and_place_simple-Pencil-None-Shelf-308", "trial_T1")
    _fake_game(
        tmp_path, "valid_seen", "pick_and_place_simple-Pencil-None-Shelf-309", "trial_T1", solvable=False
    )
    _fake_game(tmp_path, "valid_seen", "pick_and_place_simple-Pencil-None-Shelf-310", "trial_T1", grammar="")
    _fake_game(tmp_path, "valid_seen", "pick_and_place_with_movable_recep-Pen-Mug-Desk-301", "trial_T1")
    _fake_game(tmp_path, "valid_seen", "pick_heat_then_place_in_recep-AppleSliced-None-Fridge-1", "trial_T1")
    no_game = _fake_game(tmp_path, "valid_seen", "pick_and_place_simple-Pen-None-Desk-301", "trial_T1")
    (no_game / "game.tw-pddl").unlink()
    _fake_game(
        tmp_path,
        "mine",
        "look_at_obj_in_light-Bowl-None-DeskLamp-305",
        "trial_T1",
        traj={"alfagent_generated": True},
    )

    catalog = Catalog.from_roots([tmp_path, tmp_path / "does-not-exist"])
    assert catalog.splits() == ["mine", "valid_seen"]
    ids = [g.game_id for g in catalog.games("valid_seen")]
    assert ids == [
        "valid_seen/pick_and_place_simple-Pencil-None-Shelf-308/trial_T1",
        "valid_seen/pick_and_place_simple-Pencil-None-Shelf-308/trial_T2",
        "valid_seen/pick_and_place_simple-Pencil-None-Shelf-310/trial_T1",
    ]
    assert sorted(str(g.path) for g in catalog.games("valid_seen")) == sorted(
        alfworld_game_files(tmp_path / "json_2.1.1" / "valid_seen")
    )
    first = catalog.get(ids[0])
    assert first == GameInfo(
        ids[0], "valid_seen", "pick_and_place_simple", "put a pencil in shelf", "official", first.path
    )
    assert catalog.select("mine", None, 0).source == "generated"
    assert catalog.select("valid_seen", "pick_and_place_simple", 1).game_id == ids[1]


def test_catalog_errors_name_the_bad_value_and_the_valid_ones(tmp_path: Path) -> None:
    _fake_game(tmp_path, "generated_eval", "pick_and_place_simple-Pencil-None-Shelf-308", "trial_T1")
    catalog = Catalog.from_roots([tmp_path])

    assert catalog.select().split == "generated_eval"  # DESIGN.md defaults: split, index 0, any type
    assert catalog.select("", "", None).split == "generated_eval"

    with pytest.raises(UnknownSplit, match=r"'nope'.*generated_eval"):
        catalog.select("nope", None, 0)
    with pytest.raises(UnknownTaskType, match=r"'pick_up'.*pick_and_place_simple"):
        catalog.select("generated_eval", "pick_up", 0)
    with pytest.raises(IndexOutOfRange, match=r"index 1 .*1 games.*0\.\.0"):
        catalog.select("generated_eval", None, 1)
    with pytest.raises(IndexOutOfRange, match=r"index -1"):
        catalog.select("generated_eval", None, -1)
    with pytest.raises(IndexOutOfRange, match=r"0 look_at_obj_in_light games"):
        catalog.select("generated_eval", "look_at_obj_in_light", 0)
    for error in (UnknownSplit, UnknownTaskType, IndexOutOfRange, UnknownGame):
        assert issubclass(error, CatalogError) and issubclass(error, ValueError)

    with pytest.raises(UnknownGame) as info:
        catalog.get("generated_eval/x/trial_T9")
    assert isinstance(info.value, KeyError)
    assert (
        str(info.value) == "no game with id 'generated_eval/x/trial_T9' (split 'generated_eval' has 1 games)"
    )
