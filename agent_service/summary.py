"""Per-task-type statistics of a set of episodes, with 95% Wilson intervals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from agent_service.episode import EpisodeOutcome
from alfagent_common.stats import wilson_interval

ALL_TASK_TYPES = "all"


@dataclass(frozen=True)
class TaskTypeSummary:
    task_type: str
    episodes: int
    wins: int
    success_rate: float
    success_ci_low: float
    success_ci_high: float
    mean_steps: float
    mean_goal_progress: float
    prompt_tokens: int
    completion_tokens: int


def summarise(task_type: str, outcomes: list[EpisodeOutcome]) -> TaskTypeSummary:
    episodes = len(outcomes)
    wins = sum(outcome.won for outcome in outcomes)
    low, high = wilson_interval(wins, episodes)
    return TaskTypeSummary(
        task_type=task_type,
        episodes=episodes,
        wins=wins,
        success_rate=wins / episodes if episodes else 0.0,
        success_ci_low=low,
        success_ci_high=high,
        mean_steps=sum(o.steps for o in outcomes) / episodes if episodes else 0.0,
        mean_goal_progress=sum(o.goal_progress for o in outcomes) / episodes if episodes else 0.0,
        prompt_tokens=sum(o.usage.prompt_tokens for o in outcomes),
        completion_tokens=sum(o.usage.completion_tokens for o in outcomes),
    )


def by_task_type(outcomes: Iterable[EpisodeOutcome]) -> tuple[list[TaskTypeSummary], TaskTypeSummary]:
    """One row per task type (sorted), and the overall row."""
    grouped: dict[str, list[EpisodeOutcome]] = defaultdict(list)
    everything = []
    for outcome in outcomes:
        grouped[outcome.game.task_type].append(outcome)
        everything.append(outcome)
    rows = [summarise(task_type, grouped[task_type]) for task_type in sorted(grouped)]
    return rows, summarise(ALL_TASK_TYPES, everything)
