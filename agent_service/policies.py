"""Policies choose the next action from what the agent has seen so far.

EXPERT follows the environment's expert plan (the stored planner walkthrough, replanned after a
deviation); RANDOM picks uniformly among the admissible commands with a seeded generator, so the
same seed replays the same episode. The LLM policy lives in `agent_service.llm`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from agent_service.episode import Decision, Usage


@dataclass(frozen=True)
class Turn:
    action: str
    observation: str


@dataclass(frozen=True)
class TurnView:
    """Everything a policy may look at when choosing an action."""

    task_type: str
    task: str
    initial_observation: str
    history: tuple[Turn, ...]
    admissible_commands: tuple[str, ...]
    expert_plan: tuple[str, ...]

    @property
    def step_index(self) -> int:
        return len(self.history) + 1


class Policy(Protocol):
    # Whether the environment must compute the expert plan for this policy.
    needs_expert_plan: bool

    async def decide(self, view: TurnView) -> Decision: ...


class PolicyError(Exception):
    """The policy could not produce an action (e.g. the LLM endpoint failed for good); the runner
    ends the episode LLM_ERROR and stores it."""

    def __init__(self, message: str, retry_causes: tuple[str, ...] = (), usage: Usage | None = None) -> None:
        super().__init__(message)
        # What the failed turn spent before giving up (retries, tokens of earlier calls such as
        # think turns), so the trajectory counts them too.
        self.retry_causes = retry_causes
        self.usage = usage or Usage()


class NoExpertPlan(Exception):
    """The environment gave no expert plan for a state where the game is not won."""


class ExpertPolicy:
    needs_expert_plan = True

    async def decide(self, view: TurnView) -> Decision:
        if not view.expert_plan:
            raise NoExpertPlan(f"no expert plan at step {view.step_index}")
        return Decision(action=view.expert_plan[0])


class RandomPolicy:
    needs_expert_plan = False

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    async def decide(self, view: TurnView) -> Decision:
        return Decision(action=self._random.choice(view.admissible_commands))
