"""The edge between skill libraries as plain data (`library`) and their protobuf messages.

Also where a library gets its id: the content hash is defined on the message
(`alfagent_common.skill_library`), which the store checks too, so the agent computes it there.
"""

from __future__ import annotations

from datetime import UTC

from agent_service.skills.library import (
    Demonstration,
    DemonstrationStep,
    Fact,
    FactKind,
    Parameter,
    Procedure,
    ProcedureStep,
    SkillLibrary,
    SourceStep,
    SourceTrajectory,
)
from alfagent.skills.v1 import skills_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import skill_library


def content_id(library: SkillLibrary) -> str:
    return skill_library.content_id(to_proto(library))


def to_proto(library: SkillLibrary) -> skills_pb2.SkillLibrary:
    message = skills_pb2.SkillLibrary(
        library_id=library.library_id,
        extractor_version=library.extractor_version,
        source_run_ids=library.source_run_ids,
        source_game_ids=library.source_game_ids,
        source_trajectory_ids=library.source_trajectory_ids,
        edited_from=library.edited_from,
        demonstrations=[_demonstration_to_proto(d) for d in library.demonstrations],
        facts=[_fact_to_proto(f) for f in library.facts],
        procedures=[_procedure_to_proto(p) for p in library.procedures],
    )
    if library.created_at is not None:
        message.created_at.FromDatetime(library.created_at)
    return message


def from_proto(message: skills_pb2.SkillLibrary) -> SkillLibrary:
    return SkillLibrary(
        library_id=message.library_id,
        extractor_version=message.extractor_version,
        created_at=message.created_at.ToDatetime(tzinfo=UTC) if message.HasField("created_at") else None,
        source_run_ids=tuple(message.source_run_ids),
        source_game_ids=tuple(message.source_game_ids),
        source_trajectory_ids=tuple(message.source_trajectory_ids),
        edited_from=message.edited_from,
        demonstrations=tuple(_demonstration_from_proto(d) for d in message.demonstrations),
        facts=tuple(_fact_from_proto(f) for f in message.facts),
        procedures=tuple(_procedure_from_proto(p) for p in message.procedures),
    )


def source_from_proto(trajectory: trajectory_pb2.Trajectory) -> SourceTrajectory:
    """What extraction reads of a stored trajectory."""
    return SourceTrajectory(
        trajectory_id=trajectory.trajectory_id,
        game_id=trajectory.game.game_id,
        task_type=trajectory.game.task_type,
        task=trajectory.game.task,
        initial_observation=trajectory.initial_observation,
        won=trajectory.won,
        steps=tuple(
            SourceStep(step.action, step.observation, step.thought, step.goal_progress, step.won)
            for step in trajectory.steps
        ),
        run_id=trajectory.run_id,
        policy=trajectory_pb2.Policy.Name(trajectory.policy),
    )


def _demonstration_to_proto(demonstration: Demonstration) -> skills_pb2.Demonstration:
    return skills_pb2.Demonstration(
        game_id=demonstration.game_id,
        task_type=demonstration.task_type,
        task=demonstration.task,
        task_kinds=demonstration.task_kinds,
        initial_observation=demonstration.initial_observation,
        steps=[
            skills_pb2.DemonstrationStep(action=s.action, observation=s.observation, thought=s.thought)
            for s in demonstration.steps
        ],
        trajectory_id=demonstration.trajectory_id,
        run_id=demonstration.run_id,
        policy=demonstration.policy,
        places_searched=demonstration.places_searched,
    )


def _demonstration_from_proto(message: skills_pb2.Demonstration) -> Demonstration:
    return Demonstration(
        game_id=message.game_id,
        task_type=message.task_type,
        task=message.task,
        task_kinds=tuple(message.task_kinds),
        initial_observation=message.initial_observation,
        steps=tuple(DemonstrationStep(s.action, s.observation, s.thought) for s in message.steps),
        trajectory_id=message.trajectory_id,
        run_id=message.run_id,
        policy=message.policy,
        places_searched=message.places_searched,
    )


def _fact_to_proto(fact: Fact) -> skills_pb2.Fact:
    return skills_pb2.Fact(
        kind=skills_pb2.FactKind.Value(fact.kind.value),
        object=fact.object,
        receptacle=fact.receptacle,
        verb=fact.verb,
        tool=fact.tool,
        task_type=fact.task_type,
        count=fact.count,
        games=fact.games,
    )


def _fact_from_proto(message: skills_pb2.Fact) -> Fact:
    return Fact(
        kind=FactKind(skills_pb2.FactKind.Name(message.kind)),
        object=message.object,
        receptacle=message.receptacle,
        verb=message.verb,
        tool=message.tool,
        task_type=message.task_type,
        count=message.count,
        games=message.games,
    )


def _procedure_to_proto(procedure: Procedure) -> skills_pb2.Procedure:
    return skills_pb2.Procedure(
        name=procedure.name,
        task_types=procedure.task_types,
        parameters=[skills_pb2.Parameter(name=p.name, role=p.role) for p in procedure.parameters],
        steps=[skills_pb2.ProcedureStep(action=s.action, expect=s.expect) for s in procedure.steps],
        support=procedure.support,
        source_trajectory_ids=procedure.source_trajectory_ids,
    )


def _procedure_from_proto(message: skills_pb2.Procedure) -> Procedure:
    return Procedure(
        name=message.name,
        task_types=tuple(message.task_types),
        parameters=tuple(Parameter(p.name, p.role) for p in message.parameters),
        steps=tuple(ProcedureStep(s.action, s.expect) for s in message.steps),
        support=message.support,
        source_trajectory_ids=tuple(message.source_trajectory_ids),
    )
