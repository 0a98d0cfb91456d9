"""The evaluation summary: per-task-type statistics of the episodes an evaluation played.

The numbers come from `alfagent_common.run_stats`, as the store's GetStats, the report and the
benchmarks compute them. An evaluation has one outcome per game (a resume replaces an episode the
harness cut short by its next attempt before it gets here), so every outcome counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent_service.episode import EpisodeOutcome
from alfagent_common import run_stats
from alfagent_common.run_stats import ALL_TASK_TYPES, TaskTypeSummary

__all__ = ["ALL_TASK_TYPES", "TaskTypeSummary", "by_task_type", "episode_of_outcome"]


def episode_of_outcome(outcome: EpisodeOutcome) -> run_stats.Episode:
    return run_stats.Episode(
        game_id=outcome.game.game_id,
        task_type=outcome.game.task_type,
        won=outcome.won,
        end_reason=outcome.end_reason.value,
        steps=outcome.steps,
        goal_progress=outcome.goal_progress,
        prompt_tokens=outcome.usage.prompt_tokens,
        completion_tokens=outcome.usage.completion_tokens,
        trajectory_id=outcome.trajectory_id,
    )


def by_task_type(outcomes: Iterable[EpisodeOutcome]) -> tuple[list[TaskTypeSummary], TaskTypeSummary]:
    """One row per task type (sorted), and the overall row."""
    return run_stats.success_by_task_type(episode_of_outcome(outcome) for outcome in outcomes)
