"""What alfworld's own loader finds in a split directory: the reference the catalog and the
generator's output are checked against."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def alfworld_game_files(split_dir: Path) -> list[str]:
    """The game files alfworld's own AlfredTWEnv.collect_game_files finds in a split directory."""
    from alfworld.agents.environment.alfred_tw_env import AlfredTWEnv

    config: dict[str, Any] = {
        "env": {"goal_desc_human_anns_prob": 0, "task_types": [1, 2, 3, 4, 5, 6]},
        "dataset": {"data_path": str(split_dir), "num_train_games": -1},
    }
    return list(AlfredTWEnv(config, train_eval="train").game_files)
