"""Conversions between env_service's domain objects and protobuf messages, at the edge only."""

from __future__ import annotations

from alfagent.env.v1 import env_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common.versions import GameVersions, alfagent_version
from env_service.games.catalog import GameInfo
from env_service.sessions import GameSelection, ResetResult, StepResult

_SOURCES = {"official": trajectory_pb2.OFFICIAL, "generated": trajectory_pb2.GENERATED}


def game_to_proto(game: GameInfo) -> trajectory_pb2.Game:
    return trajectory_pb2.Game(
        game_id=game.game_id,
        split=game.split,
        task_type=game.task_type,
        task=game.task,
        source=_SOURCES.get(game.source, trajectory_pb2.GAME_SOURCE_UNSPECIFIED),
    )


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
