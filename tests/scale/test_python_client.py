"""The env client for trainers and notebooks (clients/python), against running services."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from tests.conftest import Services
from tests.scale.cluster import cluster

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "python"
sys.path.insert(0, str(CLIENT_DIR))

from alfagent_client import AlfworldEnv, BatchEnv, EpisodeOver, InvalidRequest  # noqa: E402


def expert_actions(infos: list[dict[str, object]]) -> list[str | None]:
    """The next command of each slot's expert plan; None where the plan is over (finished)."""
    return [plan[0] if isinstance(plan := info.get("expert_plan"), list) and plan else None for info in infos]


def live(address: str) -> int:
    stub = env_pb2_grpc.EnvServiceStub(grpc.insecure_channel(address))
    return stub.GetStats(env_pb2.GetStatsRequest(), timeout=10).live_sessions


def test_single_env_plays_the_expert_plan_to_a_win_then_hits_the_step_cap(services: Services) -> None:
    before = live(services.env)
    with AlfworldEnv(services.agent, task_type="pick_and_place_simple", with_expert_plan=True) as env:
        observation, info = env.reset()
        assert "You are in the middle of a room" in observation
        assert info["task"] and info["task_type"] == "pick_and_place_simple"
        assert info["game_id"].startswith("generated_eval/pick_and_place_simple")
        assert "look" in info["admissible_commands"] and info["expert_plan"]
        terminated = truncated = False
        steps = 0
        while not (terminated or truncated):
            observation, reward, terminated, truncated, info = env.step(info["expert_plan"][0])
            steps += 1
        assert terminated and not truncated and info["won"] and info["goal_progress"] == 1.0
        assert reward > 0 and info["step_index"] == steps
        with pytest.raises(EpisodeOver):
            env.step("look")

        env.max_steps = 3
        _, info = env.reset(options={"index": 1})
        flags = [env.step("look")[2:4] for _ in range(3)]
        assert flags == [(False, False), (False, False), (False, True)]
        with pytest.raises(InvalidRequest):
            env.reset(options={"task_type": "no_such_type"})
    assert live(services.env) == before


def test_batch_through_the_agent_wins_with_the_expert_and_closes_everything(services: Services) -> None:
    before = live(services.env)
    with BatchEnv(services.agent, 6, with_expert_plan=True) as batch:
        _, infos = batch.reset()
        assert len({info["game_id"] for info in infos}) == 6
        assert live(services.env) == before + 6
        won = [False] * 6
        for _ in range(60):
            if len(batch.finished) == 6:
                break
            _, _, terminated, _, infos = batch.step(expert_actions(infos))
            won = [w or t for w, t in zip(won, terminated, strict=True)]
        assert all(won) and not batch.lost
    assert live(services.env) == before


def test_the_example_plays_a_batch_with_the_expert_and_at_random(services: Services) -> None:
    answer = subprocess.run(
        [
            *(sys.executable, str(CLIENT_DIR / "examples" / "play_batch.py")),
            *("--address", services.agent, "--n", "4", "--max-steps", "8"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": f"{CLIENT_DIR}{os.pathsep}{Path.cwd()}"},
        check=True,
    )
    lines = answer.stdout.splitlines()
    assert lines[0].startswith("expert ") and "'sessions': 4" in lines[0] and "'lost': 0" in lines[0]
    assert lines[1].startswith("random ") and "'lost': 0" in lines[1]


def test_a_batch_over_two_replicas_reports_the_sessions_of_a_dead_one_as_lost(tmp_path: Path) -> None:
    with cluster(tmp_path, 2) as made:
        first, second = made.envs
        with BatchEnv(made.env_addr, 8, with_expert_plan=True, timeout_seconds=30) as batch:
            _, infos = batch.reset()
            assert (live(first.address), live(second.address)) == (4, 4)
            _, _, _, _, infos = batch.step(expert_actions(infos))
            os.killpg(second.process.pid, signal.SIGKILL)
            started = time.monotonic()
            _, _, _, _, infos = batch.step(expert_actions(infos))
            assert time.monotonic() - started < 20
            assert len(batch.lost) == 4
            assert all(infos[slot]["lost"] and "error" in infos[slot] for slot in batch.lost)
            # The others play on to a win; the lost slots are skipped.
            for _ in range(60):
                if len(batch.finished) == 4:
                    break
                _, _, _, _, infos = batch.step(
                    [info["expert_plan"][0] if info["expert_plan"] else None for info in infos]
                )
            assert len(batch.finished) == 4 and all(infos[s]["won"] for s in batch.finished)
            # A new reset opens every slot on the replica left.
            batch.reset()
            assert not batch.lost and live(first.address) == 8
        assert live(first.address) == 0


def test_pip_install_builds_the_generated_code_into_the_package(tmp_path: Path) -> None:
    # A copy, so the build leaves nothing in the tree and proto/ must be carried as files.
    source = tmp_path / "src"
    shutil.copytree(CLIENT_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"),
            *("--target", str(target), str(source)),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    probe = (
        "import alfagent_client, alfagent.env.v1.env_pb2 as m, alfagent.env.v1.env_pb2_grpc as g;"
        "print(alfagent_client.__file__); print(m.__file__); print(g.__file__)"
    )
    answer = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    paths = answer.stdout.split()
    assert len(paths) == 3 and all(path.startswith(str(target)) for path in paths), answer.stdout
    assert (target / "alfagent" / "env" / "v1" / "env_pb2.pyi").is_file()
