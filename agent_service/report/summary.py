"""What the report's charts and tables show, computed from the runs' trajectories.

Everything returned is plain JSON data: the page's script only draws it. Per run: success per task
type with 95% Wilson intervals, end reasons, LLM retries by cause, the mean goal progress after
each step, how the commands went (not admissible, repeated, model calls and tokens per step); per
episode: one row (outcome, steps, tokens, seconds); across runs: for each pair of runs that share
games, the games that flipped, the paired success per task type and the exact McNemar p-value.
The statistics are `alfagent_common.run_stats`, as the evaluation summary, GetStats and the
benchmarks compute them. An episode the harness cut short that a resume played again
(`run_stats.superseded`) is listed with the run's episodes but counted nowhere else: the later
attempt is the game's result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from itertools import combinations
from typing import Any

from agent_service.report.settings import run_settings
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import run_stats

Trajectory = trajectory_pb2.Trajectory
ALL_TASK_TYPES = run_stats.ALL_TASK_TYPES


def success_row(row: run_stats.TaskTypeSummary) -> dict[str, Any]:
    return {
        "task_type": row.task_type,
        "episodes": row.episodes,
        "wins": row.wins,
        "rate": row.success_rate,
        "low": row.success_ci_low,
        "high": row.success_ci_high,
    }


def success_by_task_type(trajectories: Sequence[Trajectory]) -> list[dict[str, Any]]:
    """One row per task type (sorted), then the row of every episode ("all")."""
    rows, overall = run_stats.success_by_task_type(run_stats.episode_of(t) for t in trajectories)
    return [success_row(row) for row in [*rows, overall]]


def behaviour_record(episodes: Sequence[run_stats.Episode]) -> dict[str, Any]:
    """How the run's commands went: not admissible, repeated, model calls and tokens per step."""
    played = run_stats.behaviour(episodes)
    return {
        **asdict(played),
        "not_admissible_rate": played.not_admissible_rate,
        "repeat_rate": played.repeat_rate,
        "model_calls_per_step": played.model_calls_per_step,
        "tokens_per_step": played.tokens_per_step,
    }


def goal_progress_curve(trajectories: Sequence[Trajectory]) -> list[float]:
    """Mean goal progress after step 1, 2, …; an episode that has ended keeps its last value.

    Carrying the last value on keeps every episode in every mean, so the curve does not jump when
    the short (won) episodes stop contributing.
    """
    longest = max((len(t.steps) for t in trajectories), default=0)
    if not trajectories or not longest:
        return []
    sums = [0.0] * longest
    for trajectory in trajectories:
        last = 0.0
        for index in range(longest):
            if index < len(trajectory.steps):
                last = trajectory.steps[index].goal_progress
            sums[index] += last
    return [round(total / len(trajectories), 4) for total in sums]


def episode_row(run: int, game: int, trajectory: Trajectory) -> dict[str, Any]:
    usage = trajectory.usage
    return {
        "run": run,
        "game": game,
        "id": trajectory.trajectory_id,
        "attempt": trajectory.attempt,
        "won": trajectory.won,
        "end": trajectory_pb2.EndReason.Name(trajectory.end_reason),
        "steps": len(trajectory.steps),
        "progress": round(trajectory.goal_progress, 4),
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "tokens": usage.prompt_tokens + usage.completion_tokens,
        "seconds": round(trajectory.duration_ms / 1000, 3),
        "retries": sum(trajectory.retry_causes.values()),
    }


def flipped_games(
    runs: Sequence[Sequence[run_stats.Episode]], game_index: Mapping[str, int]
) -> list[dict[str, Any]]:
    """For every pair of runs that share games (each run's counted episodes): the games won in one
    and lost in the other, the paired success per task type, and McNemar's exact p-value."""
    flips = []
    for a, b in combinations(range(len(runs)), 2):
        pair = run_stats.paired_games(runs[a], runs[b])
        if not pair.games:
            continue
        flips.append(
            {
                "a": a,
                "b": b,
                "common": len(pair.games),
                "won_in_a_only": [game_index[g] for g in pair.won_in_a_only],
                "won_in_b_only": [game_index[g] for g in pair.won_in_b_only],
                "won_in_both": pair.won_in_both,
                "won_in_neither": pair.won_in_neither,
                "a_wins": pair.a_wins,
                "b_wins": pair.b_wins,
                "p_value": pair.p_value,
                "by_task_type": [asdict(row) for row in pair.by_task_type],
            }
        )
    return flips


def game_record(trajectory: Trajectory) -> dict[str, Any]:
    game = trajectory.game
    return {
        "id": game.game_id,
        "task": game.task,
        "task_type": game.task_type,
        "split": game.split,
        "source": trajectory_pb2.GameSource.Name(game.source),
    }


def summarise_runs(runs: Mapping[str, Sequence[Trajectory]]) -> dict[str, Any]:
    """The report's data except the step-by-step trajectories and the expert plans."""
    games: list[dict[str, Any]] = []
    game_index: dict[str, int] = {}
    episodes: list[dict[str, Any]] = []
    run_records: list[dict[str, Any]] = []
    counted_episodes: list[list[run_stats.Episode]] = []
    for run, (run_id, trajectories) in enumerate(runs.items()):
        for trajectory in trajectories:
            game_id = trajectory.game.game_id
            if game_id not in game_index:
                game_index[game_id] = len(games)
                games.append(game_record(trajectory))
            episodes.append(episode_row(run, game_index[game_id], trajectory))
        retries: Counter[str] = Counter()
        for trajectory in trajectories:
            retries.update(dict(trajectory.retry_causes))
        read = [run_stats.episode_of(t) for t in trajectories]
        replaced = run_stats.superseded(read)
        counted = [t for t in trajectories if t.trajectory_id not in replaced]
        counted_episodes.append([e for e in read if e.trajectory_id not in replaced])
        rows, overall = run_stats.success_by_task_type(counted_episodes[-1])
        run_records.append(
            {
                "run_id": run_id,
                "policy": trajectory_pb2.Policy.Name(trajectories[0].policy) if trajectories else "",
                "models": sorted({t.model for t in trajectories if t.model}),
                "generated": any(t.game.source == trajectory_pb2.GENERATED for t in trajectories),
                "success": [success_row(row) for row in [*rows, overall]],
                "end_reasons": run_stats.end_reasons(counted_episodes[-1]),
                "retry_causes": dict(retries),
                "goal_progress_curve": goal_progress_curve(counted),
                "behaviour": behaviour_record(counted_episodes[-1]),
                "settings": run_settings(trajectories),
            }
        )
    return {
        "runs": run_records,
        "games": games,
        "episodes": episodes,
        "flips": flipped_games(counted_episodes, game_index),
        "task_types": sorted({game["task_type"] for game in games}),
        "generated": any(run["generated"] for run in run_records),
    }
