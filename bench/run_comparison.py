"""Two stored runs compared as the report compares them, as text (`bench_llm compare`).

Everything is computed by `alfagent_common.run_stats` on each run's counted episodes (the attempt
rule applied): success on the games both runs played with the exact McNemar p-value of the
difference, the same per task type, then each run's success over all its episodes and how its
commands went (not admissible as written, one command sent 3+ times in a row, the longest such
run, model calls and tokens per step). Markdown tables, as bench/RESULTS.md holds them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from alfagent_common import run_stats


def episodes_of(trajectories: Sequence[Mapping[str, Any]]) -> list[run_stats.Episode]:
    """A run's counted episodes, from its stored trajectories (proto3 JSON documents)."""
    return run_stats.counted([run_stats.episode_of_document(t) for t in trajectories])


def p_text(p: float) -> str:
    """ "p = 0.0215" (3 significant digits, halves rounded up, as the report's page writes it with
    JavaScript's toPrecision), or "p < 0.001"."""
    if p < 0.001:
        return "p < 0.001"
    exact = Decimal(p)
    rounded = exact.quantize(Decimal(1).scaleb(exact.adjusted() - 2), rounding=ROUND_HALF_UP)
    return f"p = {rounded.normalize():f}"


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else f"{part}/0"


def paired_text(first: str, second: str, pair: run_stats.PairedGames) -> list[str]:
    n = len(pair.games)
    only_a, only_b = len(pair.won_in_a_only), len(pair.won_in_b_only)
    lines = [
        f"On the {n} games both played: {first} won {_share(pair.a_wins, n)}, "
        f"{second} won {_share(pair.b_wins, n)}; both won {pair.won_in_both}, neither "
        f"{pair.won_in_neither}, {first} only {only_a}, {second} only {only_b}. "
        f"Exact McNemar {p_text(pair.p_value)} (two-sided, over the {only_a + only_b} games won "
        "in one run only).",
        "",
        f"By task type (A: {first}, B: {second}):",
        "",
        "| task type | games | won in A | won in B | A only | B only |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {row.task_type} | {row.games} | {row.a_wins} | {row.b_wins} | {row.a_only} | {row.b_only} |"
        for row in pair.by_task_type
    ]
    return lines


def run_rows(runs: Mapping[str, Sequence[run_stats.Episode]]) -> list[str]:
    """One column per run: success over all its counted episodes, and how its commands went."""
    played = {run_id: run_stats.behaviour(episodes) for run_id, episodes in runs.items()}
    overall = {run_id: run_stats.success_by_task_type(episodes)[1] for run_id, episodes in runs.items()}
    streak = run_stats.REPEAT_STREAK

    def row(label: str, cells: Sequence[str]) -> str:
        return f"| {label} | " + " | ".join(cells) + " |"

    return [
        row("", list(runs)),
        "|---|" + "---|" * len(runs),
        row(
            "won (rate; 95% Wilson interval)",
            [
                f"{o.wins}/{o.episodes} ({o.success_rate:.0%}; "
                f"{o.success_ci_low:.0%} to {o.success_ci_high:.0%})"
                for o in overall.values()
            ],
        ),
        row("commands not admissible", [_share(b.not_admissible, b.steps) for b in played.values()]),
        row(
            f"episodes with one command {streak}+ times in a row",
            [_share(b.repeated, b.episodes) for b in played.values()],
        ),
        row("longest run of one command", [str(b.longest_streak) for b in played.values()]),
        row("model calls per step", [f"{b.model_calls_per_step:.2f}" for b in played.values()]),
        row("tokens per step (prompt + completion)", [f"{b.tokens_per_step:,.0f}" for b in played.values()]),
    ]


def comparison_text(
    first: str,
    first_trajectories: Sequence[Mapping[str, Any]],
    second: str,
    second_trajectories: Sequence[Mapping[str, Any]],
) -> str:
    a, b = episodes_of(first_trajectories), episodes_of(second_trajectories)
    pair = run_stats.paired_games(a, b)
    lines = paired_text(first, second, pair) if pair.games else [f"{first} and {second} share no game."]
    return "\n".join([*lines, "", *run_rows({first: a, second: b})])
