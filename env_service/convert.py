"""Conversions between env_service's domain objects and protobuf messages, at the edge only."""

from __future__ import annotations

from alfagent.env.v1 import env_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common.game_proto import game_to_proto
from alfagent_common.versions import GameVersions, alfagent_version
from env_service.sessions import GameSelection, ResetResult, StepResult


def selection_from_proto(request: env_pb2.ResetRequest) -> GameSelection:
    return GameSelection(
        game_id=request.game_id, split=request.split, task_type=request.task_type, index=request.index
    )


def versions_to_proto(game_versions: GameVersions) -> trajectory_pb2.Versions:
    return trajectory_pb2.Versions(
        alfagent=alfagent_version(), alfworld=game_versions.alfworld, textworld=game_versions.textworld
    )


def reset_to_proto(result: ResetResult, game_versions: GameVersions) -> env_pb2.ResetResponse:
    observation = result.observation
    return env_pb2.ResetResponse(
        session_id=result.session_id,
        game=game_to_proto(result.game),
        observation=observation.text,
        admissible_commands=observation.admissible_commands,
        expert_plan=observation.expert_plan,
        goal_progress=observation.goal_progress,
        versions=versions_to_proto(game_versions),
    )


def step_to_proto(result: StepResult) -> env_pb2.StepResponse:
    observation = result.observation
    return env_pb2.StepResponse(
        observation=observation.text,
        reward=1.0 if observation.won else 0.0,
        done=result.done,
        won=observation.won,
        admissible_commands=observation.admissible_commands,
        step_index=result.step_index,
        goal_progress=observation.goal_progress,
        expert_plan=observation.expert_plan,
        admissible=observation.admissible,
    )
