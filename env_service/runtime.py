"""One ALFWorld game played inside a worker process.

This is the only module that touches textworld. It runs in worker processes only: textworld
is not thread-safe, and its planner library keeps global state per loaded copy.

Each `PddlEnv` loads its own copy of the Fast Downward library and never frees it, so envs are
pooled and re-used with `env.load(game)` (`EnvPool`); memory stays flat across sessions.
"""

from __future__ import annotations

import json
from typing import Any

import textworld
from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
from textworld.envs.pddl.pddl import PddlEnv

from env_service.goals import GoalProgress
from env_service.observation import Observation

REQUEST_INFOS = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])


def _new_env() -> Any:
    env = PddlEnv(REQUEST_INFOS)
    for wrapper in (AlfredDemangler(shuffle=False), AlfredInfos):
        env = wrapper(env)
    return env


class EnvPool:
    """Textworld envs kept for re-use by later sessions in this process."""

    def __init__(self) -> None:
        self._free: list[Any] = []
        self.created = 0

    def take(self) -> Any:
        if self._free:
            return self._free.pop()
        self.created += 1
        return _new_env()

    def give_back(self, env: Any) -> None:
        self._free.append(env)


class GameRun:
    """A game being played: reset once, then stepped."""

    def __init__(self, env: Any, game_path: str, *, with_expert_plan: bool) -> None:
        self.env = env
        self.game_path = game_path
        self.with_expert_plan = with_expert_plan
        self._actions: list[str] = []
        self._walkthrough: list[str] = []
        self._goal: GoalProgress | None = None

    def reset(self) -> Observation:
        self.env.load(self.game_path)
        state = self.env.reset()
        self._actions = []
        with open(self.game_path, encoding="utf-8") as game_file:
            self._walkthrough = list(json.load(game_file).get("walkthrough") or [])
        self._goal = GoalProgress.from_pddl_state(self.env.unwrapped._pddl_state)
        return self._observe(state, admissible=True)

    def step(self, action: str) -> Observation:
        # PddlEnv strips the command itself; strip here too so `admissible` and the expert-plan
        # prefix check agree with what the game executed.
        action = action.strip()
        admissible = action in self.env.state["admissible_commands"]
        state, _, _ = self.env.step(action)
        self._actions.append(action)
        return self._observe(state, admissible=admissible)

    def _observe(self, state: Any, *, admissible: bool) -> Observation:
        assert self._goal is not None
        won = bool(state["won"])
        return Observation(
            text=str(state["feedback"]),
            admissible_commands=tuple(state["admissible_commands"]),
            won=won,
            goal_progress=1.0 if won else self._goal.measure(self.env.unwrapped._pddl_state),
            admissible=admissible,
            expert_plan=self._expert_plan() if self.with_expert_plan and not won else (),
        )

    def _expert_plan(self) -> tuple[str, ...]:
        # While the agent follows the stored walkthrough the rest of it is still a plan;
        # after a deviation ask the planner from the current state (slow, but only then).
        done = len(self._actions)
        if self._walkthrough and self._walkthrough[:done] == self._actions:
            return tuple(self._walkthrough[done:])
        pddl_state = self.env.unwrapped._pddl_state
        return tuple(pddl_state.replan(self.env.unwrapped._entity_infos))
