"""One ALFWorld game played by a worker: a worker process, or the service's own games thread
with ENV_WORKERS=0 (`inprocess.py`).

This is the only module that touches textworld. It runs on one thread of one process at a time:
textworld is not thread-safe, and its planner library keeps global state per loaded copy.

Each `PddlEnv` loads its own copy of the Fast Downward library and never frees it, so envs are
pooled and re-used with `env.load(game)` (`EnvPool`); memory stays flat across sessions.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any, TypeVar

import textworld
from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
from textworld.envs.pddl.logic import PddlState
from textworld.envs.pddl.pddl import PddlEnv

from env_service.goals import GoalProgress
from env_service.observation import Observation
from env_service.reduced import reduced_problem

log = logging.getLogger(__name__)

T = TypeVar("T")
# How long a replan tries the whole problem before it turns to the reduced one (see _replan).
WHOLE_PROBLEM_FIRST_SECONDS = 0.5

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

    def __init__(
        self, env: Any, game_path: str, *, with_expert_plan: bool, replan_seconds: float | None = None
    ) -> None:
        self.env = env
        self.game_path = game_path
        self.with_expert_plan = with_expert_plan
        self.replan_seconds = replan_seconds
        self._actions: list[str] = []
        # The plan the expert answers from, and how many actions had been taken when it was made.
        self._plan: list[str] = []
        self._plan_made_at = 0
        self.replans = 0
        self._goal: GoalProgress | None = None

    def reset(self) -> Observation:
        self.env.load(self.game_path)
        state = self.env.reset()
        self._actions = []
        with open(self.game_path, encoding="utf-8") as game_file:
            self._plan = list(json.load(game_file).get("walkthrough") or [])
        self._plan_made_at = 0
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
        # While the agent follows the current plan (first the stored walkthrough) the rest of it
        # is still a plan. Only a deviation asks the planner, from the state reached: that can be
        # slow, so it happens once per deviation, not on every later step.
        taken = self._actions[self._plan_made_at :]
        if self._plan and self._plan[: len(taken)] == taken:
            return tuple(self._plan[len(taken) :])
        self._plan = self._replan()
        self._plan_made_at = len(self._actions)
        self.replans += 1
        return tuple(self._plan)

    def _replan(self) -> list[str]:
        """A plan from the state reached, within `replan_seconds` (None: no limit) in all.

        The whole problem first, for a moment: on small rooms that is the fastest (tens of ms).
        Then the reduced problem (env_service/reduced.py), its plan checked by playing it in a
        copy of this game: on big kitchens it takes under a second where the whole problem can
        take minutes. Last, should that plan not win, the whole problem for the time left. Every
        attempt runs in a forked copy of this worker, killed at its deadline.
        """
        started = time.monotonic()

        def time_left(at_most: float | None = None) -> float | None:
            if self.replan_seconds is None:
                return at_most
            left = self.replan_seconds - (time.monotonic() - started)
            return left if at_most is None else min(at_most, left)

        pddl_state, infos = self.env.unwrapped._pddl_state, self.env.unwrapped._entity_infos

        def whole_problem() -> list[str]:
            return [str(action) for action in pddl_state.replan(infos)]

        plan = run_forked(whole_problem, time_left(WHOLE_PROBLEM_FIRST_SECONDS))
        if plan is not None:
            return plan
        reduced = run_forked(self._plan_on_reduced_problem, time_left())
        if reduced and run_forked(functools.partial(self._wins_with, reduced), time_left()):
            return reduced
        if reduced is not None:
            log.info(
                "the reduced problem gave no winning plan; planning on the whole problem",
                extra={"game": self.game_path, "steps": len(self._actions)},
            )
        plan = run_forked(whole_problem, time_left())
        if plan is None:
            log.warning(
                "gave up replanning: no expert plan for this step",
                extra={"game": self.game_path, "seconds": self.replan_seconds, "steps": len(self._actions)},
            )
            return []
        return plan

    def _plan_on_reduced_problem(self) -> list[str]:
        # Only ever in a forked copy: loading another problem replaces the task the planner
        # library of this game holds.
        game = self.env.unwrapped
        state = game._pddl_state
        facts = [(fact.name, tuple(var.name for var in fact.arguments)) for fact in state.facts]
        problem = reduced_problem(state.pddl_problem, facts)
        # The whole game's entity names turn the plan into the commands the player sees.
        return [
            str(action)
            for action in PddlState(game.downward_lib, problem, game._logic).replan(game._entity_infos)
        ]

    def _wins_with(self, plan: list[str]) -> bool:
        # Only ever in a forked copy: it plays the plan in this game.
        state = self.env.state
        for action in plan:
            if action not in state["admissible_commands"]:
                return False
            state, _, _ = self.env.step(action)
        return bool(state["won"])


def run_forked(compute: Callable[[], T], seconds: float | None) -> T | None:
    """`compute()` run in a forked copy of this process, or None if it takes over `seconds` (None:
    no limit) or fails. Its result travels back as JSON.

    The planner is a C library call that Python cannot interrupt; in a child that is killed at the
    deadline it holds this worker (and its other sessions) for `seconds` at most. A child may also
    change its copy of the game freely (load another problem, play moves): this one is untouched.
    """
    if seconds is not None and seconds <= 0:
        return None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running any of the parent's cleanup
        status = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(json.dumps(compute()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    deadline = None if seconds is None else time.monotonic() + seconds
    chunks: list[bytes] = []
    try:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and (
                remaining <= 0 or not select.select([read_end], [], [], remaining)[0]
            ):
                os.kill(pid, signal.SIGKILL)
                return None
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    try:
        result: T = json.loads(b"".join(chunks))
    except ValueError:  # the child failed before writing a whole result
        return None
    return result
