"""A game as the protobuf `trajectory.v1.Game`, for the env (which describes its games) and the
agent (which records them): one mapping of the game source, both directions."""

from __future__ import annotations

from typing import Protocol

from alfagent.trajectory.v1 import trajectory_pb2

_SOURCE_TO_PROTO = {"official": trajectory_pb2.OFFICIAL, "generated": trajectory_pb2.GENERATED}
_SOURCE_FROM_PROTO = {value: key for key, value in _SOURCE_TO_PROTO.items()}


class GameFields(Protocol):
    """What both services' game records have (env's GameInfo, agent's GameRef)."""

    @property
    def game_id(self) -> str: ...
    @property
    def split(self) -> str: ...
    @property
    def task_type(self) -> str: ...
    @property
    def task(self) -> str: ...
    # "official", "generated"; anything else is sent as GAME_SOURCE_UNSPECIFIED.
    @property
    def source(self) -> str: ...


def game_to_proto(game: GameFields) -> trajectory_pb2.Game:
    return trajectory_pb2.Game(
        game_id=game.game_id,
        split=game.split,
        task_type=game.task_type,
        task=game.task,
        source=_SOURCE_TO_PROTO.get(game.source, trajectory_pb2.GAME_SOURCE_UNSPECIFIED),
    )


def source_from_proto(source: trajectory_pb2.GameSource.ValueType) -> str:
    """ "official" or "generated"; "unknown" for a game whose source was not said."""
    return _SOURCE_FROM_PROTO.get(source, "unknown")
