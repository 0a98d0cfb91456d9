"""The PDDL problem text of a drawn game, for alfworld's ``alfred`` domain.

It states the same kinds of facts ALFRED's generator writes (alfworld.gen.game_states.planned_game_state):
typed ids escaped the ALFRED way, every otype/rtype constant the domain and goals may mention, the
receptacles at their locations, the objects in their receptacles, what can contain what, and which
objects can be picked up, cleaned, heated, cooled, sliced or switched on. The goal comes verbatim from
alfworld's goal library.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

import alfworld.gen.constants as constants

from gamegen import tasks
from gamegen.sampling import GameSpec

# ALFRED's escaping (PlannedGameState.fix_pddl_str_chars): one simultaneous pass, so the "-" that "#"
# becomes is not escaped again.
_ESCAPES: Final[dict[str, str]] = {
    "-": "_minus_",
    "#": "-",
    "|": "_bar_",
    "+": "_plus_",
    ".": "_dot_",
    ",": "_comma_",
}
_ESCAPE_RE: Final[re.Pattern[str]] = re.compile("|".join(re.escape(k) for k in _ESCAPES))

# Type constants, split the way ALFRED splits them: fixed receptacle classes are rtypes, every other
# class (movable receptacles such as Mug included) an otype. Declaring all of them keeps the constants
# the domain names (SinkBasinType, MicrowaveType, FridgeType, KnifeType, ...) defined in every game.
RTYPES: Final[tuple[str, ...]] = tuple(sorted(tasks.STATIC_RECEPTACLES))
OTYPES: Final[tuple[str, ...]] = tuple(sorted(constants.OBJECTS_SET - tasks.STATIC_RECEPTACLES))


def escape_pddl(text: str) -> str:
    """Escape ids (and ``#`` type markers) exactly like ALFRED's fix_pddl_str_chars."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], text)


def _block(lines: list[str], indent: str = "        ") -> str:
    return "\n".join(indent + line for line in lines)


def build_problem(spec: GameSpec, problem_name: str) -> str:
    """The whole ``(define (problem ...))`` text. Deterministic: every list is sorted."""
    scene = spec.scene
    receptacles = sorted(scene.receptacles, key=lambda r: r.id)
    objects = sorted(spec.objects, key=lambda o: o.id)
    locations = sorted({r.pose.loc_id() for r in receptacles} | {spec.agent_pose.loc_id()})
    is_look = spec.params.task_type == "look_at_obj_in_light"

    declared = (
        ["agent1 # agent"]
        + [f"{cls}Type # otype" for cls in OTYPES]
        + [f"{cls}Type # rtype" for cls in RTYPES]
        + [f"{o.id} # object" for o in objects]
        + [f"{r.id} # receptacle" for r in receptacles]
        + [f"{loc} # location" for loc in locations]
    )

    init: list[str] = [f"(atLocation agent1 {spec.agent_pose.loc_id()})"]
    init += [f"(receptacleType {r.id} {r.cls}Type)" for r in receptacles]
    init += [f"(objectType {o.id} {o.cls}Type)" for o in objects]
    receptacle_classes = sorted({r.cls for r in receptacles})
    object_classes = sorted({o.cls for o in objects})
    init += [
        f"(canContain {rc}Type {oc}Type)"
        for rc in receptacle_classes
        for oc in object_classes
        if tasks.fits(rc, oc)
    ]
    init += [f"(openable {r.id})" for r in receptacles if r.cls in constants.OPENABLE_CLASS_SET]
    init += [f"(pickupable {o.id})" for o in objects if o.cls in tasks.PICKUPABLE]
    init += [f"(isReceptacleObject {o.id})" for o in objects if o.cls in constants.MOVABLE_RECEPTACLES_SET]
    for predicate, group in (
        ("cleanable", "Cleanable"),
        ("heatable", "Heatable"),
        ("coolable", "Coolable"),
        ("sliceable", "Sliceable"),
    ):
        init += [f"({predicate} {o.id})" for o in objects if o.cls in constants.VAL_ACTION_OBJECTS[group]]
    if is_look:
        # As in ALFRED's problems, only the task's lamp can be switched on.
        init += [f"(toggleable {o.id})" for o in objects if o.cls == spec.params.toggle_target]
    init += [f"(inReceptacle {o.id} {o.receptacle.id})" for o in objects]
    init += [f"(receptacleAtLocation {r.id} {r.pose.loc_id()})" for r in receptacles]
    init += [f"(objectAtLocation {o.id} {o.receptacle.pose.loc_id()})" for o in objects]

    text = (
        f"\n(define (problem {problem_name})\n"
        "(:domain alfred)\n"
        "(:objects\n"
        f"{_block(declared)}\n"
        "        )\n\n"
        "(:init\n"
        f"{_block(init)}\n"
        "        )\n"
    )
    # The goal text is alfworld's: it closes the ``define`` itself.
    return escape_pddl(text) + escape_pddl(tasks.goal_pddl(spec.params))


def build_planning_problem(spec: GameSpec, problem_name: str) -> str:
    """The same room and goal with only the objects the goal names (targets, and the lamp to switch on).

    The planner is a uniform-cost search whose effort grows fast with every pickable object; other
    objects cannot change how the goal is reached, so a plan found here wins the full game too (see
    verify.py, which replays it there).
    """
    wanted = {spec.params.object_target, spec.params.toggle_target} - {""}
    reduced = dataclasses.replace(spec, objects=tuple(o for o in spec.objects if o.cls in wanted))
    return build_problem(reduced, problem_name)
