"""Leaving a game's walkthrough on purpose, the same way in the expert-plan tests and bench_replan."""

from __future__ import annotations

import time

from env_service.observation import Observation
from env_service.runtime import GameRun


def walk_then_detour(run: GameRun, moves: int = 2) -> tuple[Observation, float]:
    """Reset `run`, follow its walkthrough for `moves` moves, then go to a place the walkthrough
    does not go next (the middle one of those listed): the answer to that step, and how long it
    took (with `with_expert_plan`, that includes the replan)."""
    run.reset()
    walkthrough = list(run._plan)
    for action in walkthrough[:moves]:
        run.step(action)
    detours = [
        command
        for command in run.env.state["admissible_commands"]
        if command.startswith("go to") and command != walkthrough[moves]
    ]
    started = time.monotonic()
    observation = run.step(detours[len(detours) // 2])
    return observation, time.monotonic() - started
