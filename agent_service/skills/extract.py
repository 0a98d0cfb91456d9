"""Extraction: a skill library from stored trajectories, and nothing else.

- Demonstrations: every won episode (the expert's and the model's alike, searches included), one
  per distinct (game, actions).
- Facts: from every episode, won or lost (a failure still shows where things were): what was seen
  in or on what, which receptacles were closed, what was heated, cooled, cleaned or turned on with
  what. An object the player had moved is not counted where it was put.
- Procedures: in won episodes, each stretch from picking an object up to putting it where it
  counted (the goal's progress went up, or the game was won), its things named by the part they
  played ({obj}, {recep}, {target}, {tool}, {place}), commands that changed nothing left out.
  Stretches with the same commands are one procedure; `support` counts them.

Deterministic: the same trajectories, in any order, give the same library and the same id. No
kinds, places or task recipes are written here: `grammar` reads the game's sentences, and every
kind, place and step comes from them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from agent_service.skills import grammar
from agent_service.skills.convert import content_id
from agent_service.skills.library import (
    Demonstration,
    DemonstrationStep,
    Fact,
    FactKind,
    Parameter,
    Procedure,
    ProcedureStep,
    SkillLibrary,
    SourceTrajectory,
)
from alfagent_common.errors import InvalidRequest

# Named in every library; raise it whenever the rules below change what a library holds.
EXTRACTOR_VERSION = "alfagent-skills/1"
_NOT_A_NAME = re.compile(r"[^a-z0-9]")


# The kinds of entries a library may hold; `extract(kinds=...)` makes one of some of them, so that
# each representation can be measured alone.
KINDS = ("demonstrations", "facts", "procedures")


def extract(
    sources: Iterable[SourceTrajectory], *, created_at: datetime | None = None, kinds: Iterable[str] = KINDS
) -> SkillLibrary:
    """The library made from `sources` (`convert.source_from_proto` reads stored trajectories),
    holding the `kinds` of entries asked for (all by default; the lineage is the same either way).

    `created_at` is recorded but is not part of the id."""
    wanted = set(kinds)
    if unknown := wanted - set(KINDS):
        raise InvalidRequest(
            f"unknown kinds of entries: {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})"
        )
    trajectories = _unique(sources)
    won = [trajectory for trajectory in trajectories if trajectory.won]
    library = SkillLibrary(
        library_id="",
        extractor_version=EXTRACTOR_VERSION,
        created_at=created_at,
        source_run_ids=_sorted_set(t.run_id for t in trajectories if t.run_id),
        source_game_ids=_sorted_set(t.game_id for t in trajectories if t.game_id),
        source_trajectory_ids=tuple(t.trajectory_id for t in trajectories),
        demonstrations=_demonstrations(won) if "demonstrations" in wanted else (),
        facts=_facts(trajectories) if "facts" in wanted else (),
        procedures=_procedures(won) if "procedures" in wanted else (),
    )
    return replace(library, library_id=content_id(library))


def _unique(sources: Iterable[SourceTrajectory]) -> list[SourceTrajectory]:
    """Sorted by id, one per id (the least, should two differ)."""
    kept: dict[str, SourceTrajectory] = {}
    for trajectory in sorted(sources):
        kept.setdefault(trajectory.trajectory_id, trajectory)
    return list(kept.values())


def _sorted_set(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


# -- demonstrations -------------------------------------------------------------------------------


def _demonstrations(won: list[SourceTrajectory]) -> tuple[Demonstration, ...]:
    seen: set[tuple[str, tuple[str, ...]]] = set()
    found = []
    for trajectory in won:
        key = (trajectory.game_id, tuple(step.action for step in trajectory.steps))
        if key in seen or not trajectory.steps:
            continue
        seen.add(key)
        found.append(
            Demonstration(
                game_id=trajectory.game_id,
                task_type=trajectory.task_type,
                task=trajectory.task,
                task_kinds=_task_kinds(trajectory),
                initial_observation=trajectory.initial_observation,
                steps=tuple(DemonstrationStep(s.action, s.observation, s.thought) for s in trajectory.steps),
                trajectory_id=trajectory.trajectory_id,
                run_id=trajectory.run_id,
                policy=trajectory.policy,
                places_searched=_places_searched(trajectory),
            )
        )
    return tuple(sorted(found, key=lambda d: (d.task_type, d.game_id, d.trajectory_id)))


def _task_kinds(trajectory: SourceTrajectory) -> tuple[str, ...]:
    """The words of the task that name a kind the episode itself showed."""
    texts = [trajectory.initial_observation, *(f"{s.action}\n{s.observation}" for s in trajectory.steps)]
    kinds = {grammar.kind_of(name) for text in texts for name in grammar.instances(text)}
    return tuple(sorted(set(grammar.words(trajectory.task)) & kinds))


def _places_searched(trajectory: SourceTrajectory) -> int:
    """Receptacles looked into before the first pick-up that held nothing of the kind picked up."""
    contents: dict[str, list[str]] = {}
    for step in trajectory.steps:
        seen = grammar.read(step.observation)
        if seen.picked is not None:
            taken = grammar.kind_of(seen.picked[0])
            return sum(
                all(grammar.kind_of(thing) != taken for thing in things) for things in contents.values()
            )
        for receptacle, things in seen.contents:
            contents[receptacle] = things
    return 0


# -- facts ------------------------------------------------------------------------------------------


@dataclass
class _Sightings:
    # Each key's occurrences as (game_id, instance names...): counted once per game.
    found: defaultdict[tuple[str, str], set[tuple[str, ...]]]
    looked: defaultdict[str, set[tuple[str, ...]]]
    closed: defaultdict[str, set[tuple[str, ...]]]
    tools: defaultdict[tuple[str, str, str, str], set[tuple[str, ...]]]

    @classmethod
    def empty(cls) -> _Sightings:
        return cls(defaultdict(set), defaultdict(set), defaultdict(set), defaultdict(set))


def _facts(trajectories: list[SourceTrajectory]) -> tuple[Fact, ...]:
    sightings = _Sightings.empty()
    for trajectory in trajectories:
        _record(trajectory, sightings)

    def fact(kind: FactKind, occurrences: set[tuple[str, ...]], **fields: str) -> Fact:
        games = len({occurrence[0] for occurrence in occurrences})
        return Fact(kind=kind, count=len(occurrences), games=games, **fields)

    facts = [
        *(fact(FactKind.FOUND_IN, o, object=obj, receptacle=r) for (obj, r), o in sightings.found.items()),
        *(fact(FactKind.LOOKED_IN, o, receptacle=r) for r, o in sightings.looked.items()),
        *(fact(FactKind.CLOSED, o, receptacle=r) for r, o in sightings.closed.items()),
        *(
            fact(FactKind.TOOL, o, task_type=task_type, verb=verb, object=obj, tool=tool)
            for (task_type, verb, obj, tool), o in sightings.tools.items()
        ),
    ]
    order = list(FactKind)
    return tuple(
        sorted(
            facts, key=lambda f: (order.index(f.kind), f.object, f.receptacle, f.verb, f.tool, f.task_type)
        )
    )


def _record(trajectory: SourceTrajectory, sightings: _Sightings) -> None:
    game = trajectory.game_id
    holding = ""
    moved: set[str] = set()  # things this player picked up: where they are now says nothing
    answers = [("", trajectory.initial_observation), *((s.action, s.observation) for s in trajectory.steps)]
    for action, text in answers:
        seen = grammar.read(text)
        for receptacle, things in seen.contents:
            sightings.looked[grammar.kind_of(receptacle)].add((game, receptacle))
            for thing in things:
                if thing not in moved:
                    key = (grammar.kind_of(thing), grammar.kind_of(receptacle))
                    sightings.found[key].add((game, thing, receptacle))
        for receptacle in seen.closed:
            sightings.closed[grammar.kind_of(receptacle)].add((game, receptacle))
        if seen.picked is not None:
            holding = seen.picked[0]
            moved.add(holding)
        if seen.placed is not None:
            holding = ""
        if seen.treated is not None:
            verb, thing, tool = seen.treated
            use = (trajectory.task_type, verb, grammar.kind_of(thing), grammar.kind_of(tool))
            sightings.tools[use].add((game, thing, tool))
        if seen.turned_on:
            verb = (grammar.words(action) or ["use"])[0]
            held = grammar.kind_of(holding) if holding else ""
            use = (trajectory.task_type, verb, held, grammar.kind_of(seen.turned_on))
            sightings.tools[use].add((game, holding, seen.turned_on))


# -- procedures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trace:
    """One stretch of a won episode, parameterised."""

    trajectory_id: str
    task_type: str
    actions: tuple[str, ...]
    expects: tuple[str, ...]
    parameters: tuple[Parameter, ...]


def _procedures(won: list[SourceTrajectory]) -> tuple[Procedure, ...]:
    groups: defaultdict[tuple[tuple[str, ...], tuple[str, ...]], list[_Trace]] = defaultdict(list)
    for trajectory in won:
        for trace in _traces(trajectory):
            groups[(trace.actions, tuple(p.name for p in trace.parameters))].append(trace)
    ranked = sorted(groups.values(), key=lambda traces: (-len(traces), traces[0].actions))
    names: set[str] = set()
    procedures = []
    for traces in ranked:
        first = traces[0]
        expects = tuple(
            _common_prefix(list(column)) for column in zip(*(t.expects for t in traces), strict=True)
        )
        procedures.append(
            Procedure(
                name=_new_name(first.actions, names),
                task_types=_sorted_set(t.task_type for t in traces),
                parameters=first.parameters,
                steps=tuple(ProcedureStep(a, e) for a, e in zip(first.actions, expects, strict=True)),
                support=len(traces),
                source_trajectory_ids=_sorted_set(t.trajectory_id for t in traces),
            )
        )
    return tuple(procedures)


def _traces(trajectory: SourceTrajectory) -> Iterator[_Trace]:
    stretch: list[tuple[str, str, grammar.Observation]] = []
    progress = progress_at_pick = 0.0
    for step in trajectory.steps:
        seen = grammar.read(step.observation)
        action = " ".join(step.action.split())
        if seen.picked is not None:
            stretch = [(action, step.observation, seen)]
            progress_at_pick = progress
        elif stretch:
            stretch.append((action, step.observation, seen))
            held = stretch[0][2].picked
            assert held is not None
            placed_it = seen.placed is not None and seen.placed[0] == held[0]
            if placed_it or step.won:
                if step.won or step.goal_progress > progress_at_pick:
                    target = seen.placed[1] if seen.placed is not None and placed_it else ""
                    yield _parameterise(trajectory, stretch, target)
                stretch = []
        progress = step.goal_progress


def _parameterise(
    trajectory: SourceTrajectory, stretch: list[tuple[str, str, grammar.Observation]], target: str
) -> _Trace:
    kept = [entry for entry in stretch if entry[2].changed_something]
    # Going somewhere only to go somewhere else at once did nothing for the task.
    kept = [
        entry
        for entry, after in zip(kept, [*kept[1:], None], strict=True)
        if not _leads_nowhere(entry, after)
    ]
    picked = stretch[0][2].picked
    assert picked is not None
    binding: dict[str, str] = {}
    roles: dict[str, str] = {}

    def bind(name: str, parameter: str, role: str) -> None:
        if name and name not in binding:
            parameter = _fresh(parameter, set(binding.values()))
            binding[name] = parameter
            roles[parameter] = role

    bind(picked[0], "obj", "the object taken")
    bind(picked[1], "recep", "where the object was taken from")
    bind(target, "target", "where the object was put")
    for _, _, seen in kept:
        if seen.treated is not None:
            bind(seen.treated[2], "tool", f"used to {seen.treated[0]} the object")
        if seen.turned_on:
            bind(seen.turned_on, "tool", "turned on while holding the object")
    for action, _, _ in kept:
        for name in grammar.instances(action):
            bind(name, "place", "another place gone to")
    actions = tuple(_template(action, binding) for action, _, _ in kept)
    expects = tuple(_expectation(text, binding) for _, text, _ in kept)
    parameters = tuple(Parameter(name, roles[name]) for name in binding.values())
    return _Trace(trajectory.trajectory_id, trajectory.task_type, actions, expects, parameters)


def _leads_nowhere(
    entry: tuple[str, str, grammar.Observation], after: tuple[str, str, grammar.Observation] | None
) -> bool:
    seen = entry[2]
    only_arrived = bool(seen.at) and not (
        seen.opened or seen.picked or seen.placed or seen.treated or seen.turned_on
    )
    return only_arrived and after is not None and bool(after[2].at) and not after[2].opened


def _fresh(base: str, used: set[str]) -> str:
    name, number = base, 2
    while name in used:
        name, number = f"{base}{number}", number + 1
    return name


def _template(text: str, binding: dict[str, str]) -> str:
    escaped = text.replace("{", "{{").replace("}", "}}")
    return grammar.INSTANCE.sub(
        lambda match: "{" + binding[match.group(0)] + "}" if match.group(0) in binding else match.group(0),
        escaped,
    )


def _expectation(observation: str, binding: dict[str, str]) -> str:
    """The answer's first sentence as a template, cut before anything no parameter stands for."""
    expect = _template(grammar.first_sentence(observation), binding)
    unbound = grammar.INSTANCE.search(expect)
    return (expect[: unbound.start()] if unbound else expect).rstrip()


def _common_prefix(texts: list[str]) -> str:
    """What all the texts begin with, never cut inside a {placeholder}."""
    shortest = min(texts, key=len)
    for index, char in enumerate(shortest):
        if any(text[index] != char for text in texts):
            prefix = shortest[:index]
            if prefix.rfind("{") > prefix.rfind("}"):
                prefix = prefix[: prefix.rfind("{")]
            return prefix.rstrip()
    return shortest


def _new_name(actions: tuple[str, ...], taken: set[str]) -> str:
    verbs = [_NOT_A_NAME.sub("", action.split(" ", 1)[0].lower()) for action in actions]
    base = "_".join(verb for verb in verbs if verb and verb != "go") or "procedure"
    if not base[0].isalpha():
        base = "p_" + base
    name = base
    number = 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    taken.add(name)
    return name
