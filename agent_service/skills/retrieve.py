"""Retrieval: the few entries of a library that fit the game at hand. Deterministic, no model.

- `nearest_demonstrations`: same task type first, then the most kinds shared with the task (the
  object and receptacle it names), then the most receptacle kinds shared with the room, then the
  shortest, then the trajectory id.
- `facts_for`: where the task's object kinds were found (in receptacles this room has), which of
  those places were closed, and what the task type's tools were.
- `procedures_for`: the procedures distilled from episodes of the task type, most supported first.

A task's kinds are the words of its sentence that name a kind the library or the room knows; the
library's own vocabulary is all this needs, no list of objects.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent_service.skills import grammar
from agent_service.skills.library import Demonstration, Fact, FactKind, Procedure, SkillLibrary

_FACT_ORDER = (FactKind.TOOL, FactKind.FOUND_IN, FactKind.CLOSED)


def room_kinds(initial_observation: str) -> frozenset[str]:
    """The kinds of the things the opening text names (the room's receptacles)."""
    return frozenset(grammar.kind_of(name) for name in grammar.instances(initial_observation))


def library_kinds(library: SkillLibrary) -> frozenset[str]:
    """Every kind the library names."""
    kinds = {kind for demonstration in library.demonstrations for kind in demonstration.task_kinds}
    for fact in library.facts:
        kinds.update(kind for kind in (fact.object, fact.receptacle, fact.tool) if kind)
    return frozenset(kinds)


def task_kinds(task_sentence: str, known: Iterable[str]) -> tuple[str, ...]:
    """The words of the task that name a known kind, in the sentence's order, each once."""
    vocabulary = set(known)
    return tuple(dict.fromkeys(word for word in grammar.words(task_sentence) if word in vocabulary))


def nearest_demonstrations(
    library: SkillLibrary, task_type: str, task_sentence: str, initial_observation: str, k: int = 2
) -> list[Demonstration]:
    """The `k` demonstrations nearest to the game (see the module's docstring for the order)."""
    room = room_kinds(initial_observation)
    wanted = set(task_kinds(task_sentence, library_kinds(library) | room))

    def rank(demonstration: Demonstration) -> tuple[int, int, int, int, str]:
        shared_room = len(room & room_kinds(demonstration.initial_observation))
        return (
            demonstration.task_type != task_type,
            -len(wanted & set(demonstration.task_kinds)),
            -shared_room,
            len(demonstration.steps),
            demonstration.trajectory_id,
        )

    return sorted(library.demonstrations, key=rank)[: max(k, 0)]


def facts_for(
    library: SkillLibrary,
    task_sentence: str,
    initial_observation: str = "",
    task_type: str = "",
    limit: int = 8,
) -> list[Fact]:
    """The few facts that bear on the task: its type's tools, where its objects were found
    (receptacles of this room only, when `initial_observation` is given), and which of those
    receptacles were closed; most often seen first."""
    room = room_kinds(initial_observation)
    wanted = set(task_kinds(task_sentence, library_kinds(library) | room))
    looked = {f.receptacle: f.count for f in library.facts if f.kind == FactKind.LOOKED_IN}

    def in_room(kind: str) -> bool:
        return not room or kind in room

    tools = [f for f in library.facts if f.kind == FactKind.TOOL and f.task_type == task_type]
    tools = [f for f in tools if f.object in wanted or not f.object]
    found = [
        f
        for f in library.facts
        if f.kind == FactKind.FOUND_IN and f.object in wanted and in_room(f.receptacle)
    ]
    # Most often found there, then most often found there per look.
    found.sort(key=lambda f: (-f.count, -f.count / max(looked.get(f.receptacle, 1), 1), f.receptacle))
    places = {f.receptacle for f in found[:limit]} | (wanted & room)
    closed = [f for f in library.facts if f.kind == FactKind.CLOSED and f.receptacle in places]
    tools.sort(key=lambda f: (-f.count, f.object, f.tool))
    closed.sort(key=lambda f: (-f.count, f.receptacle))
    return [*tools, *found, *closed][: max(limit, 0)]


def procedures_for(library: SkillLibrary, task_type: str) -> list[Procedure]:
    """Procedures distilled from episodes of `task_type`, most supported first."""
    chosen = [procedure for procedure in library.procedures if task_type in procedure.task_types]
    return sorted(chosen, key=lambda procedure: (-procedure.support, procedure.name))


def describe(fact: Fact) -> str:
    """A fact as a sentence for a prompt or a person."""
    times = f"{_plural(fact.count, 'time')} in {_plural(fact.games, 'game')}"
    if fact.kind == FactKind.FOUND_IN:
        return f"a {fact.object} was found in/on a {fact.receptacle} ({times})"
    if fact.kind == FactKind.LOOKED_IN:
        return f"a {fact.receptacle} was looked into ({times})"
    if fact.kind == FactKind.CLOSED:
        return f"a {fact.receptacle} was closed and had to be opened first ({times})"
    held = f" while holding a {fact.object}" if fact.verb == "use" and fact.object else ""
    if fact.verb == "use":
        return f"to finish {fact.task_type}, a {fact.tool} was used{held} ({times})"
    return f"to {fact.verb} a {fact.object}, a {fact.tool} was used ({times})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
