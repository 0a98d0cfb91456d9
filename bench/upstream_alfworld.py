"""Plays a game with plain, unmodified alfworld/textworld in this process, the usual way.

The reference for byte-identity tests and for speed comparisons: an env built as ALFWorld's
AlfredTWEnv builds it (PDDL backend, AlfredDemangler + AlfredInfos wrappers, admissible commands
and `won` requested), loaded per game, reset, then stepped. Nothing of env_service is imported,
so its caches are not installed.

    python -m bench.upstream_alfworld GAME_FILE ACTIONS_JSON [RESETS]   # prints a JSON report
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def play(game_file: str, actions: list[str], resets: int = 1) -> dict[str, Any]:
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos

    infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
    env = textworld.start(game_file, infos, wrappers=[AlfredDemangler(shuffle=False), AlfredInfos])
    # textworld.gym (what AlfredTWEnv uses) loads the game file again on every reset.
    reset_seconds = []
    for _ in range(resets):
        started = time.perf_counter()
        env.load(game_file)
        state = env.reset()
        reset_seconds.append(time.perf_counter() - started)
    report: dict[str, Any] = {
        "reset_seconds": reset_seconds,
        "reset": {
            "observation": state["feedback"],
            "admissible_commands": list(state["admissible_commands"]),
        },
        "steps": [],
        "step_seconds": [],
    }
    for action in actions:
        started = time.perf_counter()
        state, _, _ = env.step(action)
        report["step_seconds"].append(time.perf_counter() - started)
        report["steps"].append(
            {
                "observation": state["feedback"],
                "admissible_commands": list(state["admissible_commands"]),
                "won": bool(state["won"]),
            }
        )
    return report


def main() -> int:
    game_file, actions_json = sys.argv[1], sys.argv[2]
    resets = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    report = play(game_file, json.loads(actions_json), resets)
    # The last line of output is the report (textworld may print before it).
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
