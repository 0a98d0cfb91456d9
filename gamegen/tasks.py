"""The six ALFWorld task types: their rules, goals and task sentences.

Everything textual comes from the installed ``alfworld`` package (``alfworld.gen.goal_library`` for the
PDDL goals and the sentence templates, ``alfworld.gen.constants`` for which objects can be cleaned,
heated, cooled, and fit which receptacles), so generated games speak exactly like official ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

import alfworld.gen.constants as constants
import alfworld.gen.goal_library as goal_library

# Receptacles that are fixed in the room (movable ones such as Mug or Bowl are plain objects in the
# ALFWorld text domain, which has no action that puts something into them).
STATIC_RECEPTACLES: Final[frozenset[str]] = frozenset(
    constants.RECEPTACLES - constants.MOVABLE_RECEPTACLES_SET
)

# Object classes that can be picked up: whatever some receptacle accepts, minus the sliced variants
# (sliced tasks are skipped by ALFWorld's loader).
PICKUPABLE: Final[frozenset[str]] = frozenset(
    cls
    for objs in constants.VAL_RECEPTACLE_OBJECTS.values()
    for cls in objs
    if cls in constants.OBJECTS and not cls.endswith("Sliced")
)

# Receptacle classes a DeskLamp may stand on for look_at_obj_in_light: the goal needs the lamp to be
# inside a receptacle the agent can walk to (a FloorLamp never is, so those tasks are unsolvable).
LAMP_SURFACES: Final[tuple[str, ...]] = ("Desk", "SideTable", "DiningTable", "CoffeeTable", "Dresser")

# The appliance each state-changing task needs; the target object must need it too.
_APPLIANCE: Final[dict[str, tuple[str, str]]] = {
    "pick_clean_then_place_in_recep": ("SinkBasin", "Cleanable"),
    "pick_heat_then_place_in_recep": ("Microwave", "Heatable"),
    "pick_cool_then_place_in_recep": ("Fridge", "Coolable"),
}

# Destinations ALFRED never asks for, per task type (goal_to_invalid_receptacle in its generator).
_INVALID_PARENTS: Final[dict[str, frozenset[str]]] = {
    "pick_heat_then_place_in_recep": frozenset({"Microwave"}),
    "pick_cool_then_place_in_recep": frozenset({"Fridge"}),
    "pick_clean_then_place_in_recep": frozenset({"SinkBasin"}),
    "pick_two_obj_and_place": frozenset({"CoffeeMachine", "ToiletPaperHanger", "HandTowelHolder"}),
}


@dataclass(frozen=True)
class TaskParams:
    """What a game asks for, with ALFRED's class names (``pddl_params`` in traj_data.json)."""

    task_type: str
    object_target: str
    parent_target: str = ""
    toggle_target: str = ""
    mrecep_target: str = ""

    @property
    def dir_name_parts(self) -> tuple[str, str, str]:
        """The object, movable-receptacle and receptacle fields of ALFRED's task directory name.

        For look_at_obj_in_light the last field is the lamp (``look_at_obj_in_light-Bowl-None-DeskLamp``).
        """
        last = self.toggle_target if self.task_type == "look_at_obj_in_light" else self.parent_target
        return self.object_target, self.mrecep_target or "None", last

    def pddl_params(self) -> dict[str, str | bool]:
        """The ``pddl_params`` block of traj_data.json: strings ("" for unused), never null."""
        return {
            "object_target": self.object_target,
            "parent_target": self.parent_target,
            "toggle_target": self.toggle_target,
            "mrecep_target": self.mrecep_target,
            "object_sliced": False,
        }


def appliance_for(task_type: str) -> str | None:
    """The receptacle class whose action the task needs (sink, microwave, fridge), if any."""
    entry = _APPLIANCE.get(task_type)
    return entry[0] if entry else None


def object_fits_task(task_type: str, obj: str) -> bool:
    """Whether an object class can be the target of this task type (cleanable for clean, ...)."""
    if obj not in PICKUPABLE:
        return False
    entry = _APPLIANCE.get(task_type)
    return entry is None or obj in constants.VAL_ACTION_OBJECTS[entry[1]]


def parent_allowed(task_type: str, parent: str) -> bool:
    """Whether a receptacle class can be the destination of this task type (ALFRED's own rules).

    As in ALFRED's generate_trajectories.py: never the appliance that changes the object's state (a
    heated object put back into the microwave...), never a one-object holder for pick_two, never the
    Toaster (it only takes bread slices).
    """
    if parent not in STATIC_RECEPTACLES or parent == "Toaster":
        return False
    return parent not in _INVALID_PARENTS.get(task_type, frozenset())


def room_allowed(task_type: str, room_type: str) -> bool:
    """ALFRED's room types per task (alfworld.gen.constants.GOALS_VALID): no heating in a bedroom."""
    return room_type in constants.GOALS_VALID[task_type]


def fits(receptacle: str, obj: str) -> bool:
    """ALFRED's rule of which object classes a receptacle class accepts."""
    return obj in constants.VAL_RECEPTACLE_OBJECTS.get(receptacle, ())


def templates(task_type: str) -> list[str]:
    """The sentence templates alfworld uses for this (unsliced) task type."""
    return list(goal_library.gdict[task_type]["templates"])


def task_sentence(params: TaskParams, rng: random.Random) -> str:
    """The task sentence, built like alfworld.agents.utils.misc.get_templated_task_desc.

    alfworld draws the template with the global ``random`` module; here the draw comes from the game's
    own generator so that a seed always gives the same sentence. The filling-in is identical: class
    names lower-cased, ``{obj}``/``{recep}``/``{toggle}``/``{mrecep}`` substituted.
    """
    template = rng.choice(templates(params.task_type))
    return template.format(
        obj=params.object_target.lower(),
        recep=params.parent_target.lower(),
        toggle=params.toggle_target.lower(),
        mrecep=params.mrecep_target.lower(),
    )


def add_task_to_grammar(grammar: str, sentence: str) -> str:
    """Put the task sentence into alfred.twl2 the way alfworld's add_task_to_grammar does."""
    return grammar.replace("UNKNOWN GOAL", sentence)


def goal_pddl(params: TaskParams) -> str:
    """The ``(:goal ...)`` block from alfworld's goal library, with the closing paren of ``define``.

    The library writes ``#`` for PDDL's type dash so that ids can be escaped without touching it; the
    caller escapes the result with ``problem.escape_pddl`` like ALFRED does.
    """
    text: str = goal_library.gdict[params.task_type]["pddl"]
    return text.format(
        obj=params.object_target,
        recep=params.parent_target,
        toggle=params.toggle_target,
        mrecep=params.mrecep_target,
    )
