"""Episodes of real games, played once per test session, that the skill tests extract from.

Expert episodes of two `generated_train` games of each task type; two won episodes of a player
that searched first (policy LLM); one lost episode that only looked around.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from agent_service.skills.convert import source_from_proto
from agent_service.skills.extract import extract
from agent_service.skills.library import SkillLibrary
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common.games import TASK_TYPES
from tests.skills.games import Games

TRAIN = "generated_train"
EXPERT_RUN = "expert-train"
SEARCH_RUN = "search-train"


@dataclass(frozen=True)
class Recorded:
    expert: list[trajectory_pb2.Trajectory]
    searched: list[trajectory_pb2.Trajectory]
    lost: list[trajectory_pb2.Trajectory]

    @property
    def all(self) -> list[trajectory_pb2.Trajectory]:
        return [*self.expert, *self.searched, *self.lost]


@pytest.fixture(scope="session")
def games() -> Iterator[Games]:
    with Games() as played:
        yield played


@pytest.fixture(scope="session")
def recorded(games: Games) -> Recorded:
    expert = [
        games.play(TRAIN, task_type, index, run_id=EXPERT_RUN) for task_type in TASK_TYPES for index in (0, 1)
    ]
    searched = [
        games.play(TRAIN, task_type, 2, run_id=SEARCH_RUN, searches=2)
        for task_type in ("pick_and_place_simple", "pick_heat_then_place_in_recep")
    ]
    lost = [
        games.play(TRAIN, "pick_clean_then_place_in_recep", 2, run_id=SEARCH_RUN, searches=3, max_steps=4)
    ]
    assert all(t.won for t in expert + searched) and not any(t.won for t in lost)
    return Recorded(expert, searched, lost)


@pytest.fixture(scope="session")
def library(recorded: Recorded) -> SkillLibrary:
    return extract(source_from_proto(trajectory) for trajectory in recorded.all)
