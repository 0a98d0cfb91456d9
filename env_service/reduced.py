"""The planning problem of a game's current state, cut down to what its goal needs.

textworld's planner is a uniform-cost search whose effort grows fast with every pickable object:
holding anything blocks picking the target, so every object and every openable receptacle becomes
part of the search, and a big kitchen can take minutes. The objects a goal does not name can
neither help nor hinder reaching it in the alfred domain (no receptacle has a capacity), so a plan
on the problem without them is also a plan of the whole game. The game generator plans its
walkthroughs that way (games/problem.py); the env replans that way after a deviation
(runtime.GameRun), and checks the plan in the whole game before it answers with it.

Kept: every receptacle, location and type; the objects of a type the goal names; what the agent
holds (it has to put it down first); and any object inside or holding a kept one
(`inReceptacleObject`), transitively. Facts naming a dropped object are dropped with it.

Pure text and tuples: no textworld here. Names are lower case, as the planner's own parser makes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from env_service.downward import lisp_parser, parsing_functions

Fact = tuple[str, tuple[str, ...]]
Nested = str | list[Any]


def reduced_problem(problem: str, facts: Iterable[Fact]) -> str:
    """`problem` (the game's PDDL problem) with `facts` as its initial state, less the objects the
    goal does not need (see the module doc). Numeric facts (distances) are kept from `problem`."""
    define = lisp_parser.parse_nested_list(problem.split("\n"))
    sections = {item[0]: item for item in define[2:] if isinstance(item, list) and item}
    declared = [
        (item.name, item.type_name) for item in parsing_functions.parse_typed_list(sections[":objects"][1:])
    ]
    goal = sections[":goal"]
    facts = set(facts)
    kept = _needed_objects(declared, facts, set(_tokens(goal)))
    dropped = {name for name, kind in declared if kind == "object" and name not in kept}
    init: list[Nested] = [[predicate, *args] for predicate, args in sorted(facts) if dropped.isdisjoint(args)]
    init += [item for item in sections[":init"][1:] if item and item[0] == "="]
    objects: list[str] = []
    for name, kind in declared:
        if name not in dropped:
            objects += [name, "-", kind]
    rebuilt: list[Nested] = [
        "define",
        define[1],
        *(item for item in define[2:] if item[0] not in (":objects", ":init", ":goal")),
        [":objects", *objects],
        [":init", *init],
        goal,
    ]
    return _text(rebuilt)


def _needed_objects(declared: Sequence[tuple[str, str]], facts: set[Fact], goal_names: set[str]) -> set[str]:
    objects = {name for name, kind in declared if kind == "object"}
    kept = {args[0] for predicate, args in facts if predicate == "objecttype" and args[1] in goal_names}
    kept |= {args[1] for predicate, args in facts if predicate == "holds"}
    kept &= objects
    nesting = [args for predicate, args in facts if predicate == "inreceptacleobject"]
    grown = True
    while grown:
        grown = False
        for inner, outer in nesting:
            if (inner in kept) != (outer in kept):
                kept |= {inner, outer}
                grown = True
    return kept


def _tokens(nested: Nested) -> Iterable[str]:
    if isinstance(nested, str):
        yield nested
        return
    for item in nested:
        yield from _tokens(item)


def _text(nested: Nested) -> str:
    if isinstance(nested, str):
        return nested
    return "(" + " ".join(_text(item) for item in nested) + ")"
