"""Names shared by the generator (gamegen) and the catalog, kept free of heavy imports (no alfworld,
textworld).

They are ALFWorld's: the file and directory names of its data layout, with the task types and
the default split that the agent shares (alfagent_common.games).
"""

from __future__ import annotations

from typing import Final

from alfagent_common.games import DEFAULT_SPLIT, TASK_TYPES

__all__ = ["DATA_DIR_NAME", "DEFAULT_SPLIT", "GAME_FILE", "GENERATED_MARKER", "TASK_TYPES", "TRAJ_FILE"]

DATA_DIR_NAME: Final[str] = "json_2.1.1"
GAME_FILE: Final[str] = "game.tw-pddl"
TRAJ_FILE: Final[str] = "traj_data.json"
# traj_data.json key that marks a game as ours rather than from the official ALFWorld data.
GENERATED_MARKER: Final[str] = "alfagent_generated"
