"""Real ALFWorld games played by the test process itself: the env core (`EnvCore`) over the
in-process worker (`ENV_WORKERS=0`'s), on an event loop of its own thread, so tests stay plain
functions. No network and no worker process; the shipped generated games.

`play` records an episode as the agent would store it (a `Trajectory`): the expert's plan, or a
searcher's episode that first looks into places the plan never goes to, then follows the plan.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from agent_service.skills import grammar
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common.game_proto import game_to_proto
from env_service.config import SHIPPED_GAMES_DIR
from env_service.games.catalog import Catalog
from env_service.inprocess import InProcessWorkers
from env_service.sessions import EnvCore, GameSelection, ResetResult, StepResult

T = TypeVar("T")
TIMEOUT = 300


class Games:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="skills-games", daemon=True)
        self._workers = InProcessWorkers()
        self.core: EnvCore | None = None

    def __enter__(self) -> Games:
        self._thread.start()
        self._run(self._workers.start())
        self.core = EnvCore(
            Catalog.from_roots([SHIPPED_GAMES_DIR]),
            self._workers,
            max_sessions=8,
            session_ttl_seconds=600,
            max_action_chars=1000,
        )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._run(self._workers.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(TIMEOUT)

    def _core(self) -> EnvCore:
        assert self.core is not None, "use Games() in a with statement"
        return self.core

    def reset(self, split: str, task_type: str, index: int, *, with_plan: bool = True) -> ResetResult:
        selection = GameSelection(split=split, task_type=task_type, index=index)
        return self._run(self._core().reset(selection, with_expert_plan=with_plan, max_steps=0))

    def step(self, session_id: str, action: str) -> StepResult:
        return self._run(self._core().step(session_id, action))

    def close(self, session_id: str) -> None:
        self._run(self._core().close(session_id))

    def play(
        self, split: str, task_type: str, index: int, *, run_id: str, searches: int = 0, max_steps: int = 0
    ) -> trajectory_pb2.Trajectory:
        """One episode, stored as the agent stores it. With `searches`, the player first goes to
        that many places the expert's plan does not visit (opening the closed ones), as a model
        that searches does (policy LLM); otherwise it is the expert (policy EXPERT). `max_steps`
        (0: none) ends the episode early, lost."""
        opening = self.reset(split, task_type, index)
        plan = [" ".join(action.split()) for action in opening.observation.expert_plan]
        session = opening
        actions = plan
        if searches:
            self.close(opening.session_id)
            session = self.reset(split, task_type, index, with_plan=False)
            visited = {name for action in plan for name in grammar.instances(action)}
            room = [n for n in grammar.instances(opening.observation.text) if n not in visited]
            actions = [f"go to {name}" for name in room[:searches]] + plan
        trajectory = trajectory_pb2.Trajectory(
            trajectory_id=f"t-{run_id}-{task_type}-{index}",
            run_id=run_id,
            game=game_to_proto(session.game),
            policy=trajectory_pb2.LLM if searches else trajectory_pb2.EXPERT,
            initial_observation=session.observation.text,
            initial_admissible_commands=session.observation.admissible_commands,
        )
        pending = list(actions)
        while pending and (not max_steps or len(trajectory.steps) < max_steps):
            action = pending.pop(0)
            result = self.step(session.session_id, action)
            seen = grammar.read(result.observation.text)
            if searches and seen.closed and action.startswith("go to") and action not in plan:
                pending.insert(0, f"open {seen.closed[0]}")
            trajectory.steps.add(
                index=len(trajectory.steps),
                action=action,
                observation=result.observation.text,
                won=result.observation.won,
                done=result.done,
                goal_progress=result.observation.goal_progress,
                admissible=result.observation.admissible,
                grounding="policy",
            )
            if result.observation.won:
                break
        self.close(session.session_id)
        trajectory.won = bool(trajectory.steps) and trajectory.steps[-1].won
        trajectory.end_reason = trajectory_pb2.WON if trajectory.won else trajectory_pb2.STEP_LIMIT
        trajectory.trajectory_id += "-lost" if not trajectory.won else ""
        trajectory.goal_progress = trajectory.steps[-1].goal_progress if trajectory.steps else 0.0
        return trajectory
