"""A skill library as plain data: what `extract` makes and `retrieve` and `executor` read.

The fields mean what skills.proto says; `convert` maps them to and from its messages. Tuples
everywhere, so a library is immutable and hashable like its id says it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class FactKind(StrEnum):
    FOUND_IN = "FOUND_IN"
    LOOKED_IN = "LOOKED_IN"
    CLOSED = "CLOSED"
    TOOL = "TOOL"


@dataclass(frozen=True)
class DemonstrationStep:
    action: str
    observation: str
    thought: str = ""


@dataclass(frozen=True)
class Demonstration:
    game_id: str
    task_type: str
    task: str
    # Kinds of objects and receptacles the task names, as the episode showed them; sorted.
    task_kinds: tuple[str, ...]
    initial_observation: str
    steps: tuple[DemonstrationStep, ...]
    trajectory_id: str
    run_id: str = ""
    policy: str = ""
    # Receptacles looked into before the first pick-up that held nothing of the kind taken.
    places_searched: int = 0


@dataclass(frozen=True)
class Fact:
    kind: FactKind
    object: str = ""
    receptacle: str = ""
    verb: str = ""
    tool: str = ""
    task_type: str = ""
    count: int = 0
    games: int = 0


@dataclass(frozen=True)
class Parameter:
    name: str
    role: str = ""


@dataclass(frozen=True)
class ProcedureStep:
    # A command with {parameter} placeholders.
    action: str
    # How the game's answer must begin, placeholders filled; "" accepts any answer.
    expect: str = ""


@dataclass(frozen=True)
class Procedure:
    name: str
    task_types: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    steps: tuple[ProcedureStep, ...]
    support: int = 0
    source_trajectory_ids: tuple[str, ...] = ()

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(parameter.name for parameter in self.parameters)


@dataclass(frozen=True)
class SkillLibrary:
    library_id: str
    extractor_version: str
    created_at: datetime | None = None
    source_run_ids: tuple[str, ...] = ()
    source_game_ids: tuple[str, ...] = ()
    source_trajectory_ids: tuple[str, ...] = ()
    edited_from: str = ""
    demonstrations: tuple[Demonstration, ...] = ()
    facts: tuple[Fact, ...] = ()
    procedures: tuple[Procedure, ...] = ()

    def procedure(self, name: str) -> Procedure | None:
        return next((procedure for procedure in self.procedures if procedure.name == name), None)


# -- what libraries are made from --------------------------------------------------------------


@dataclass(frozen=True, order=True)
class SourceStep:
    action: str
    observation: str
    thought: str = ""
    goal_progress: float = 0.0
    won: bool = False


@dataclass(frozen=True, order=True)
class SourceTrajectory:
    """A stored episode as extraction reads it (`convert.source_from_proto` makes one)."""

    trajectory_id: str
    game_id: str
    task_type: str
    task: str
    initial_observation: str
    won: bool
    steps: tuple[SourceStep, ...]
    run_id: str = ""
    policy: str = ""
