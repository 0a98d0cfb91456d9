"""ALFWorld's names that more than one service uses: the six task types and the default split.

The task types are in alfworld.agents.environment.alfred_tw_env.TASK_TYPES order. The default
split is where a game selection or an evaluation goes when it names none (DESIGN.md §2): the
env's catalog and the agent's evaluations must agree on it.
"""

from __future__ import annotations

from typing import Final

TASK_TYPES: Final[tuple[str, ...]] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
DEFAULT_SPLIT: Final[str] = "generated_eval"
