"""env_service plays exactly ALFWorld: observations and admissible commands, byte for byte.

For one game of every task type, the full stored walkthrough (with a few extra probes: look,
inventory, an inadmissible command) is played through EnvService over gRPC, and with plain,
unmodified alfworld/textworld in a separate process (bench/upstream_alfworld.py). Every reset and
step must agree exactly; the walkthrough must win on its last step, and goal_progress must
reach 1.0 exactly then.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from env_service.games.catalog import Catalog
from env_service.games.names import TASK_TYPES
from launcher.processes import REPO_ROOT
from tests.conftest import run_json_module

PROBES = ["look", "inventory", "fly to the moon"]
CATALOG = Catalog.from_roots([REPO_ROOT / "env_service" / "data"])


def upstream(game_file: Path, actions: list[str]) -> dict[str, Any]:
    return run_json_module("bench.upstream_alfworld", str(game_file), json.dumps(actions))


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_full_walkthrough_matches_upstream_alfworld(env_channel: grpc.Channel, task_type: str) -> None:
    game = CATALOG.select("generated_eval", task_type, 0)
    walkthrough = json.loads(game.path.read_text())["walkthrough"]
    actions = [*PROBES, *walkthrough]
    expected = upstream(game.path, actions)

    env = env_pb2_grpc.EnvServiceStub(env_channel)
    reset = env.Reset(env_pb2.ResetRequest(game_id=game.game_id), timeout=120)
    assert reset.observation == expected["reset"]["observation"]
    assert list(reset.admissible_commands) == expected["reset"]["admissible_commands"]
    assert reset.goal_progress < 1.0
    progress = [reset.goal_progress]
    for index, (action, want) in enumerate(zip(actions, expected["steps"], strict=True), start=1):
        got = env.Step(env_pb2.StepRequest(session_id=reset.session_id, action=action), timeout=120)
        assert got.observation == want["observation"], f"step {index}: {action!r}"
        assert list(got.admissible_commands) == want["admissible_commands"], f"step {index}: {action!r}"
        assert got.won == want["won"]
        progress.append(got.goal_progress)
    assert got.won and got.done
    assert progress[-1] == 1.0 and max(progress[:-1]) < 1.0
    env.Close(env_pb2.CloseRequest(session_id=reset.session_id))
