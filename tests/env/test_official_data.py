"""Official ALFWorld data under ALFWORLD_DATA is served through the same loader and sessions.

The official release cannot be downloaded here, so the test lays out a folder the way
alfworld-download does (json_2.1.1/valid_unseen/<task dir>/<trial>/) holding a game without our
"generated" marker, starts env_service with ALFWORLD_DATA pointing at it, and plays it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from alfagent.env.v1 import env_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from env_service.games.catalog import Catalog
from launcher.processes import REPO_ROOT
from tests.env.envproc import env_service


def official_copy(root: Path) -> tuple[str, list[str]]:
    game = Catalog.from_roots([REPO_ROOT / "env_service" / "data"]).select(
        "generated_eval", "pick_and_place_simple", 0
    )
    trial = root / "json_2.1.1" / "valid_unseen" / game.path.parent.parent.name / "trial_T20190909_000001"
    trial.mkdir(parents=True)
    shutil.copy(game.path, trial / "game.tw-pddl")
    traj = json.loads((game.path.parent / "traj_data.json").read_text())
    traj.pop("alfagent_generated")
    (trial / "traj_data.json").write_text(json.dumps(traj))
    game_id = f"valid_unseen/{trial.parent.name}/{trial.name}"
    return game_id, json.loads(game.path.read_text())["walkthrough"]


def test_alfworld_data_is_served_beside_the_generated_games(tmp_path: Path) -> None:
    game_id, walkthrough = official_copy(tmp_path / "alfworld")
    with env_service(tmp_path, ALFWORLD_DATA=str(tmp_path / "alfworld"), ENV_WORKERS="1") as (_, env):
        stats = env.GetStats(env_pb2.GetStatsRequest())
        assert {"valid_unseen", "generated_eval", "generated_train"} <= set(stats.splits)
        (listed,) = env.ListGames(env_pb2.ListGamesRequest(split="valid_unseen")).games
        assert listed.game_id == game_id and listed.source == trajectory_pb2.OFFICIAL
        reset = env.Reset(
            env_pb2.ResetRequest(split="valid_unseen", task_type="pick_and_place_simple"), timeout=120
        )
        assert reset.game.game_id == game_id
        for action in walkthrough:
            step = env.Step(env_pb2.StepRequest(session_id=reset.session_id, action=action), timeout=120)
        assert step.won


def test_an_alfworld_data_folder_without_data_is_logged_not_fatal(tmp_path: Path) -> None:
    with env_service(tmp_path, ALFWORLD_DATA=str(tmp_path / "empty"), ENV_WORKERS="1") as (service, env):
        assert "valid_unseen" not in env.GetStats(env_pb2.GetStatsRequest()).splits
        assert "no games here" in service.log_path.read_text()
