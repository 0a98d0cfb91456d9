"""The end-to-end slice: one real ALFWorld episode through all three services.

Checks what a user sees (grpcurl, Python stubs) and what is stored: every stored step is
replayed in a fresh env session and must give the same observation, and `won` must match the
env's last step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from env_service.games.names import TASK_TYPES
from tests.conftest import Services
from tests.grpcurl import call, grpcurl


def stored_lines(store_dir: Path, trajectory_id: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(store_dir.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["trajectory_id"] == trajectory_id:
                found.append(entry)
    return found


def replay(env: env_pb2_grpc.EnvServiceStub, game_id: str, trajectory: trajectory_pb2.Trajectory) -> None:
    """Plays the stored actions again and checks the stored observations and the final `won`."""
    reset = env.Reset(env_pb2.ResetRequest(game_id=game_id))
    assert reset.observation == trajectory.initial_observation
    assert (reset.versions.alfworld, reset.versions.textworld) == (
        trajectory.versions.alfworld,
        trajectory.versions.textworld,
    )
    assert list(reset.admissible_commands) == list(trajectory.initial_admissible_commands)
    last = None
    for step in trajectory.steps:
        last = env.Step(env_pb2.StepRequest(session_id=reset.session_id, action=step.action))
        assert last.observation == step.observation, f"step {step.index} ({step.action!r}) differs"
        assert last.won == step.won
    env.Close(env_pb2.CloseRequest(session_id=reset.session_id))
    assert last is not None
    assert trajectory.won == last.won


def assert_versions_are_the_envs(stored: trajectory_pb2.Versions, env: env_pb2_grpc.EnvServiceStub) -> None:
    """Every version is known, and alfworld/textworld are those of the env that played the game."""
    for name in ("alfagent", "alfworld", "textworld"):
        assert getattr(stored, name) not in ("", "unknown"), f"{name} version: {getattr(stored, name)!r}"
    reported = env.GetStats(env_pb2.GetStatsRequest()).versions
    assert (stored.alfworld, stored.textworld) == (reported.alfworld, reported.textworld)


@pytest.mark.parametrize("address_of", ["agent", "env", "store"])
def test_reflection_lists_the_service_health_and_reflection(services: Services, address_of: str) -> None:
    result = grpcurl(getattr(services, address_of), "list")
    assert result.returncode == 0, result.stderr
    listed = set(result.stdout.split())
    assert f"alfagent.{address_of}.v1.{address_of.capitalize()}Service" in listed
    assert "grpc.health.v1.Health" in listed


def test_the_agent_port_lists_and_forwards_all_three_services(services: Services) -> None:
    listed = set(grpcurl(services.agent, "list").stdout.split())
    assert {
        "alfagent.agent.v1.AgentService",
        "alfagent.env.v1.EnvService",
        "alfagent.store.v1.StoreService",
    } <= listed
    games = call(services.agent, "alfagent.env.v1.EnvService/ListGames", {"page_size": 3})
    assert len(games["games"]) == 3
    # Errors come back with the real service's status and message.
    result = grpcurl(
        "-d",
        '{"trajectory_id": "no-such-trajectory"}',
        services.agent,
        "alfagent.store.v1.StoreService/GetTrajectory",
    )
    assert result.returncode != 0 and "NotFound" in result.stderr and "no-such-trajectory" in result.stderr
    # Writes are not forwarded: only the agent itself stores trajectories (a forged WON under
    # someone's run id through the agent's port is refused).
    forged = '{"trajectory": {"trajectory_id": "t-forged", "run_id": "victim", "won": true}}'
    result = grpcurl("-d", forged, services.agent, "alfagent.store.v1.StoreService/AppendTrajectory")
    assert result.returncode != 0 and "PermissionDenied" in result.stderr and "reads only" in result.stderr
    fetched = grpcurl(
        "-d", '{"trajectory_id": "t-forged"}', services.store, "alfagent.store.v1.StoreService/GetTrajectory"
    )
    assert "NotFound" in fetched.stderr


@pytest.mark.parametrize("address_of", ["agent", "env", "store"])
def test_health_reports_serving(services: Services, address_of: str) -> None:
    assert call(getattr(services, address_of), "grpc.health.v1.Health/Check", {}) == {"status": "SERVING"}


def test_expert_episode_through_grpcurl_is_won_and_stored_step_by_step(
    services: Services, env_channel: grpc.Channel
) -> None:
    result = call(
        services.agent,
        "alfagent.agent.v1.AgentService/RunEpisode",
        {"task_type": "pick_and_place_simple", "policy": "EXPERT"},
    )
    assert result["won"] is True
    assert result["end_reason"] == "WON"
    trajectory_id = result["trajectory_id"]

    fetched = call(
        services.store, "alfagent.store.v1.StoreService/GetTrajectory", {"trajectory_id": trajectory_id}
    )
    assert fetched["trajectory_id"] == trajectory_id
    assert len(fetched["steps"]) == result["steps"] > 0
    assert fetched["steps"][-1]["won"] is True

    trajectory = store_pb2_grpc.StoreServiceStub(grpc.insecure_channel(services.store)).GetTrajectory(
        store_pb2.GetTrajectoryRequest(trajectory_id=trajectory_id)
    )
    assert trajectory.game.task_type == "pick_and_place_simple"
    assert trajectory.game.source == trajectory_pb2.GENERATED
    assert_versions_are_the_envs(trajectory.versions, env_pb2_grpc.EnvServiceStub(env_channel))
    replay(env_pb2_grpc.EnvServiceStub(env_channel), trajectory.game.game_id, trajectory)

    if services.store_dir is not None:
        lines = stored_lines(services.store_dir, trajectory_id)
        assert len(lines) == 1, "the trajectory must be stored exactly once"
        line = lines[0]
        assert [s["action"] for s in line["steps"]] == [s.action for s in trajectory.steps]
        assert [s["observation"] for s in line["steps"]] == [s.observation for s in trajectory.steps]
        assert line["won"] is True and line["steps"][-1]["won"] is True


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_expert_wins_every_task_type_through_python_stubs(
    services: Services, agent_channel: grpc.Channel, env_channel: grpc.Channel, task_type: str
) -> None:
    agent = agent_pb2_grpc.AgentServiceStub(agent_channel)
    result = agent.RunEpisode(
        agent_pb2.RunEpisodeRequest(task_type=task_type, policy=trajectory_pb2.EXPERT, run_id="e2e-expert")
    )
    assert result.won, f"{task_type}: {trajectory_pb2.EndReason.Name(result.end_reason)} {result.error}"
    assert result.end_reason == trajectory_pb2.WON
    assert result.goal_progress == pytest.approx(1.0)
    store = store_pb2_grpc.StoreServiceStub(grpc.insecure_channel(services.store))
    trajectory = store.GetTrajectory(store_pb2.GetTrajectoryRequest(trajectory_id=result.trajectory_id))
    assert trajectory.run_id == "e2e-expert"
    assert [s.index for s in trajectory.steps] == list(range(1, result.steps + 1))
    replay(env_pb2_grpc.EnvServiceStub(env_channel), trajectory.game.game_id, trajectory)


def test_random_episode_stops_at_the_step_cap_without_a_win(
    services: Services, agent_channel: grpc.Channel
) -> None:
    agent = agent_pb2_grpc.AgentServiceStub(agent_channel)
    request = agent_pb2.RunEpisodeRequest(
        task_type="pick_two_obj_and_place",
        policy=trajectory_pb2.RANDOM,
        run_id="e2e-random",
        settings=trajectory_pb2.AgentSettings(max_steps=5, seed=7),
    )
    result = agent.RunEpisode(request)
    assert result.end_reason == trajectory_pb2.STEP_LIMIT
    assert not result.won
    assert result.steps == 5
    store = store_pb2_grpc.StoreServiceStub(grpc.insecure_channel(services.store))
    trajectory = store.GetTrajectory(store_pb2.GetTrajectoryRequest(trajectory_id=result.trajectory_id))
    assert len(trajectory.steps) == 5
    assert trajectory.steps[-1].done and not trajectory.steps[-1].won
    # Every random action was one of the commands the env offered at that step.
    assert all(step.action in step.admissible_commands for step in trajectory.steps)

    # The same seed replays the same episode; a new run id gives a new trajectory id.
    again = agent.RunEpisode(
        agent_pb2.RunEpisodeRequest(
            task_type="pick_two_obj_and_place",
            policy=trajectory_pb2.RANDOM,
            run_id="e2e-random-2",
            settings=trajectory_pb2.AgentSettings(max_steps=5, seed=7),
        )
    )
    repeat = store.GetTrajectory(store_pb2.GetTrajectoryRequest(trajectory_id=again.trajectory_id))
    assert again.trajectory_id != result.trajectory_id
    assert [s.action for s in repeat.steps] == [s.action for s in trajectory.steps]


def test_rerunning_the_same_run_and_game_does_not_store_twice(agent_channel: grpc.Channel) -> None:
    agent = agent_pb2_grpc.AgentServiceStub(agent_channel)
    request = agent_pb2.RunEpisodeRequest(
        task_type="pick_and_place_simple", policy=trajectory_pb2.EXPERT, run_id="e2e-idempotent"
    )
    first = agent.RunEpisode(request)
    second = agent.RunEpisode(request)
    assert first.trajectory_id == second.trajectory_id
    assert not first.resumed and second.resumed


def test_a_step_budget_beyond_the_agents_cap_is_resource_exhausted_and_it_keeps_serving(
    services: Services,
) -> None:
    request = '{"task_type": "pick_and_place_simple", "policy": "EXPERT", "settings": {"max_steps": 2000000}}'
    result = grpcurl("-d", request, services.agent, "alfagent.agent.v1.AgentService/RunEpisode")
    assert result.returncode != 0 and "ResourceExhausted" in result.stderr
    assert "ALFAGENT_QUOTA_MAX_STEPS=1000" in result.stderr
    assert call(services.agent, "grpc.health.v1.Health/Check", {}) == {"status": "SERVING"}
