"""Resets one game in a fresh worker state sharing a translation directory, and reports how many
PDDL→SAS translations it had to make (run as its own process by test_translations.py).

    python -m tests.env.translation_probe <translation dir> <game.tw-pddl>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import fast_downward

from env_service.protocol import Reset
from env_service.worker import WorkerState


def main(directory: str, game_path: str) -> None:
    translated = 0
    translate = fast_downward.pddl2sas

    # Counted below the caches speedups.install wraps around it.
    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal translated
        translated += 1
        return translate(*args, **kwargs)

    fast_downward.pddl2sas = counting
    state = WorkerState(Path(directory))
    observation = state.reset(Reset("s1", game_path, with_expert_plan=True))
    print(
        json.dumps(
            {
                "translated": translated,
                "text": observation.text,
                "admissible": list(observation.admissible_commands),
                "plan": list(observation.expert_plan),
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
