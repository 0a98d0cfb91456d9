"""What the report's charts and tables show, computed from the runs' trajectories.

Everything returned is plain JSON data: the page's script only draws it. Per run: success per task
type with 95% Wilson intervals, end reasons, LLM retries by cause, the mean goal progress after
each step; per episode: one row (outcome, steps, tokens, seconds); across runs: the games that
flipped between two runs. An episode the harness cut short that a resume played again
(`attempts.superseded`) is listed with the run's episodes but counted nowhere else: the later
attempt is the game's result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from agent_service.attempts import superseded
from agent_service.report.settings import run_settings
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common.stats import wilson_interval

Trajectory = trajectory_pb2.Trajectory
ALL_TASK_TYPES = "all"


def success_row(task_type: str, episodes: int, wins: int) -> dict[str, Any]:
    low, high = wilson_interval(wins, episodes)
    rate = wins / episodes if episodes else 0.0
    return {
        "task_type": task_type,
        "episodes": episodes,
        "wins": wins,
        "rate": rate,
        "low": low,
        "high": high,
    }


def success_by_task_type(trajectories: Sequence[Trajectory]) -> list[dict[str, Any]]:
    """One row per task type (sorted), then the row of every episode ("all")."""
    episodes = Counter(t.game.task_type for t in trajectories)
    wins = Counter(t.game.task_type for t in trajectories if t.won)
    rows = [success_row(task_type, episodes[task_type], wins[task_type]) for task_type in sorted(episodes)]
    return [*rows, success_row(ALL_TASK_TYPES, len(trajectories), sum(wins.values()))]


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


def won_by_game(trajectories: Sequence[Trajectory]) -> dict[str, bool]:
    """A game counts as won in a run when any of its episodes there was won (attempts repeat games)."""
    won: dict[str, bool] = {}
    for trajectory in trajectories:
        game_id = trajectory.game.game_id
        won[game_id] = won.get(game_id, False) or trajectory.won
    return won


def flipped_games(
    runs: Sequence[Sequence[Trajectory]], game_index: Mapping[str, int]
) -> list[dict[str, Any]]:
    """For every pair of runs that share games: the games won in one and lost in the other."""
    outcomes = [won_by_game(trajectories) for trajectories in runs]
    flips = []
    for a, b in combinations(range(len(runs)), 2):
        common = sorted(outcomes[a].keys() & outcomes[b].keys())
        if not common:
            continue
        flips.append(
            {
                "a": a,
                "b": b,
                "common": len(common),
                "won_in_a_only": [game_index[g] for g in common if outcomes[a][g] and not outcomes[b][g]],
                "won_in_b_only": [game_index[g] for g in common if outcomes[b][g] and not outcomes[a][g]],
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
        replaced = superseded(
            [
                (t.trajectory_id, t.attempt, t.game.game_id, trajectory_pb2.EndReason.Name(t.end_reason))
                for t in trajectories
            ]
        )
        counted = [t for t in trajectories if t.trajectory_id not in replaced]
        run_records.append(
            {
                "run_id": run_id,
                "policy": trajectory_pb2.Policy.Name(trajectories[0].policy) if trajectories else "",
                "models": sorted({t.model for t in trajectories if t.model}),
                "generated": any(t.game.source == trajectory_pb2.GENERATED for t in trajectories),
                "success": success_by_task_type(counted),
                "end_reasons": dict(Counter(trajectory_pb2.EndReason.Name(t.end_reason) for t in counted)),
                "retry_causes": dict(retries),
                "goal_progress_curve": goal_progress_curve(counted),
                "settings": run_settings(trajectories),
            }
        )
    return {
        "runs": run_records,
        "games": games,
        "episodes": episodes,
        "flips": flipped_games(list(runs.values()), game_index),
        "task_types": sorted({game["task_type"] for game in games}),
        "generated": any(run["generated"] for run in run_records),
    }
