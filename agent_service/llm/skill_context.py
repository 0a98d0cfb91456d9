"""What of a skill library the model is shown in one game: the nearest demonstrations as worked
examples, and the facts that bear on the task, each entry named so the trajectory records it.

Retrieval itself is `agent_service.skills.retrieve` (deterministic, no model). A demonstration
played by the expert carries no thoughts; it gets the same template thoughts as the few-shot
examples (`fewshot.annotate`), so that a run with a library differs from one without by which games
are shown, not by how they are written. A demonstration with thoughts of its own (a model's win)
keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_service.llm.fewshot import THINK_REPLY, Example, ExampleStep, annotate
from agent_service.skills import retrieve
from agent_service.skills.executor import signature
from agent_service.skills.library import Demonstration, Fact, Procedure, SkillLibrary

# Demonstrations shown per game: ExpeL and RAP found retrieval precision falls fast with more, and
# every one costs prompt tokens at ~67 tokens/s on 2 cores.
DEMONSTRATIONS_SHOWN = 2
FACTS_SHOWN = 8
# Procedures offered per game, most supported first: each is a line of the system message.
PROCEDURES_SHOWN = 3


@dataclass(frozen=True)
class SkillContext:
    # Worked examples from the library; empty: the policy's own few-shot examples are shown.
    examples: tuple[Example, ...] = ()
    # One sentence a fact.
    facts: tuple[str, ...] = ()
    # Procedures the model may call by name.
    procedures: tuple[Procedure, ...] = ()
    # The entries shown, by name ("demonstration:<trajectory id>", "fact:<kind>:<kinds>",
    # "procedure:<name>").
    shown: tuple[str, ...] = ()


def fact_name(fact: Fact) -> str:
    kinds = "/".join(
        kind for kind in (fact.object, fact.receptacle, fact.verb, fact.tool, fact.task_type) if kind
    )
    return f"fact:{fact.kind.value}:{kinds}"


def as_example(demonstration: Demonstration) -> Example:
    if any(step.thought for step in demonstration.steps):
        steps: list[ExampleStep] = []
        for step in demonstration.steps:
            steps += [ExampleStep(f"think: {line}", THINK_REPLY) for line in step.thought.split("\n") if line]
            steps.append(ExampleStep(step.action, step.observation))
    else:
        actions = [step.action for step in demonstration.steps]
        observations = [step.observation for step in demonstration.steps]
        steps = annotate(demonstration.task_type, actions, observations)
    return Example(
        game_id=demonstration.game_id,
        task_type=demonstration.task_type,
        initial_observation=demonstration.initial_observation,
        steps=tuple(steps),
    )


def skill_context(library: SkillLibrary, task_type: str, task: str, initial_observation: str) -> SkillContext:
    demonstrations = retrieve.nearest_demonstrations(
        library, task_type, task, initial_observation, k=DEMONSTRATIONS_SHOWN
    )
    # Only demonstrations of this task type are worked examples of it; another type's would teach
    # the wrong sequence.
    demonstrations = [d for d in demonstrations if d.task_type == task_type]
    facts = retrieve.facts_for(library, task, initial_observation, task_type, limit=FACTS_SHOWN)
    procedures = retrieve.procedures_for(library, task_type)[:PROCEDURES_SHOWN]
    return SkillContext(
        examples=tuple(as_example(d) for d in demonstrations),
        facts=tuple(retrieve.describe(fact) for fact in facts),
        procedures=tuple(procedures),
        shown=(
            *(f"demonstration:{d.trajectory_id}" for d in demonstrations),
            *(fact_name(fact) for fact in facts),
            *(f"procedure:{p.name}" for p in procedures),
        ),
    )


def procedure_line(procedure: Procedure) -> str:
    """How a procedure is offered: its call and the commands it sends."""
    return f"{signature(procedure)}: {'; '.join(step.action for step in procedure.steps)}"
