"""Names shared by the generator (gamegen) and the catalog, kept free of heavy imports (no alfworld,
textworld).

They are ALFWorld's: the six task types in alfworld.agents.environment.alfred_tw_env.TASK_TYPES order,
and the file and directory names of its data layout.
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
DATA_DIR_NAME: Final[str] = "json_2.1.1"
GAME_FILE: Final[str] = "game.tw-pddl"
TRAJ_FILE: Final[str] = "traj_data.json"
# The split a game selection uses when none is given (DESIGN.md §2).
DEFAULT_SPLIT: Final[str] = "generated_eval"
# traj_data.json key that marks a game as ours rather than from the official ALFWorld data.
GENERATED_MARKER: Final[str] = "alfagent_generated"
