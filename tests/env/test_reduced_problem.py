"""env_service.reduced: the state reached, less the objects the goal does not need."""

from __future__ import annotations

from typing import Any

from env_service.downward import lisp_parser
from env_service.reduced import Fact, reduced_problem

PROBLEM = """
(define (problem small)
(:domain alfred)
(:objects
        agent1 - agent
        AppleType - otype
        MugType - otype
        BowlType - otype
        SpoonType - otype
        PenType - otype
        ShelfType - rtype
        loc_1 loc_2 - location
        Shelf_1 - receptacle
        Apple_1 - object
        Apple_2 - object
        Mug_1 - object
        Bowl_1 - object
        Spoon_1 - object
        Pen_1 - object
        )
(:init
        (atLocation agent1 loc_1)
        (= (distance loc_1 loc_2) 3)
        )
(:goal (exists (?o - object) (and (objectType ?o AppleType) (inReceptacle ?o Shelf_1))))
)
"""

STATE: list[Fact] = [
    ("atlocation", ("agent1", "loc_2")),
    ("receptacleatlocation", ("shelf_1", "loc_1")),
    ("objecttype", ("apple_1", "appletype")),
    ("objecttype", ("apple_2", "appletype")),
    ("objecttype", ("mug_1", "mugtype")),
    ("objecttype", ("bowl_1", "bowltype")),
    ("objecttype", ("spoon_1", "spoontype")),
    ("objecttype", ("pen_1", "pentype")),
    ("holds", ("agent1", "mug_1")),
    ("holdsany", ("agent1",)),
    # Apple 2 sits in the bowl, and the bowl holds a spoon too.
    ("inreceptacleobject", ("apple_2", "bowl_1")),
    ("inreceptacleobject", ("spoon_1", "bowl_1")),
    ("inreceptacle", ("apple_1", "shelf_1")),
    ("inreceptacle", ("pen_1", "shelf_1")),
    ("pickupable", ("pen_1",)),
]


def sections(problem: str) -> dict[str, Any]:
    define = lisp_parser.parse_nested_list(problem.split("\n"))
    return {item[0]: item for item in define[2:]}


def test_keeps_what_the_goal_needs_and_drops_the_rest_with_its_facts() -> None:
    reduced = sections(reduced_problem(PROBLEM, STATE))
    objects = reduced[":objects"][1:]
    declared = {objects[i]: objects[i + 2] for i in range(0, len(objects), 3)}
    # Goal type (both apples), what the agent holds (the mug), and by nesting the bowl and spoon;
    # every receptacle, location, type and the agent. Only the pen is dropped.
    assert "pen_1" not in declared
    assert {"apple_1", "apple_2", "mug_1", "bowl_1", "spoon_1"} <= set(declared)
    assert declared["shelf_1"] == "receptacle" and declared["pentype"] == "otype"
    assert declared["loc_1"] == declared["loc_2"] == "location"
    init = reduced[":init"][1:]
    assert ["inreceptacle", "pen_1", "shelf_1"] not in init and ["pickupable", "pen_1"] not in init
    # The state given, not the problem's own initial state; distances kept from the problem.
    assert ["atlocation", "agent1", "loc_2"] in init and ["atlocation", "agent1", "loc_1"] not in init
    assert ["=", ["distance", "loc_1", "loc_2"], "3"] in init
    assert reduced[":goal"] == sections(PROBLEM)[":goal"]


def test_nothing_is_dropped_when_every_object_is_needed() -> None:
    state = [fact for fact in STATE if "pen_1" not in fact[1]]
    reduced = sections(reduced_problem(PROBLEM.replace("        Pen_1 - object\n", ""), state))
    init = {tuple(item) for item in reduced[":init"][1:] if item[0] != "="}
    assert init == {(predicate, *args) for predicate, args in state}
