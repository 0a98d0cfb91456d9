"""The figures bench_llm reports are computed from the trajectories as they say."""

from __future__ import annotations

from typing import Any

import pytest

from agent_service.llm.client import Message
from agent_service.llm.prompts import PastStep, dropped_note, repeat_note
from agent_service.llm.tokens import TokenCounter
from bench.bench_llm import command_kind, figures, paired, shown_steps, window_prompt
from bench.run_comparison import comparison_text, p_text


def test_the_kind_of_a_command() -> None:
    assert [command_kind(a) for a in ("go to desk 1", "help", "take apple 1 from table 1", "")] == [
        "go to",
        "help",
        "take",
        "(empty)",
    ]


def trajectory(task_type: str, won: bool, steps: list[tuple[str, int, int]], **extra: Any) -> dict[str, Any]:
    """steps: (action, prompt tokens, of which cached)."""
    usage = {"prompt_tokens": sum(prompt for _, prompt, _ in steps), "completion_tokens": 10 * len(steps)}
    return {
        "trajectory_id": f"t-{task_type}-{won}-{len(steps)}",
        "run_id": "r",
        "policy": "LLM",
        "model": "m",
        "won": won,
        "end_reason": "WON" if won else "STEP_LIMIT",
        "goal_progress": 1.0 if won else 0.5,
        "game": {"task_type": task_type, "game_id": f"g-{task_type}-{won}-{len(steps)}"},
        "settings": {"prompt_mode": "react", "max_steps": 50},
        # The episode's tokens: those of its steps.
        "usage": usage,
        "steps": [
            {
                "action": action,
                "observation": "o",
                "latency_ms": 2000.0,
                "llm_latency_ms": 1500.0,
                "usage": {"prompt_tokens": prompt, "completion_tokens": 10, "cached_prompt_tokens": cached},
            }
            for action, prompt, cached in steps
        ],
        **extra,
    }


def test_figures_of_a_run() -> None:
    run = [
        trajectory("a", True, [("go", 100, 0), ("take", 100, 90)]),
        trajectory("a", False, [("look", 100, 50)] * 5),
        trajectory("b", False, [("go", 200, 200)]),
    ]
    got = figures("r", run)
    assert (got.episodes, got.wins, got.steps) == (3, 1, 8)
    assert got.wins_by_type == {"a": "1/2", "b": "0/1"}
    assert got.success_ci[0] == pytest.approx(0.0615, abs=1e-3)
    assert got.success_ci[1] == pytest.approx(0.7923, abs=1e-3)
    assert got.mean_steps == pytest.approx(8 / 3)
    assert got.mean_goal_progress == pytest.approx(2 / 3)
    assert got.prompt_tokens_per_step == pytest.approx(900 / 8)
    assert got.cached_share == pytest.approx((0 + 90 + 250 + 200) / 900)
    assert got.seconds_per_step == pytest.approx(2.0) and got.llm_seconds_per_step == pytest.approx(1.5)
    assert got.end_reasons == {"WON": 1, "STEP_LIMIT": 2}
    assert got.streaks == {3: (1, 0), 5: (1, 0), 10: (0, 0)}


def test_an_episode_played_again_on_resume_counts_once() -> None:
    cut = {**trajectory("a", False, [("look", 100, 0)]), "end_reason": "CANCELLED"}
    again = {**trajectory("a", True, [("go", 100, 0)] * 3), "attempt": 1, "game": cut["game"]}
    got = figures("r", [cut, again])
    assert (got.episodes, got.wins, got.steps, got.end_reasons) == (1, 1, 3, {"WON": 1})


def test_the_repeat_figures_of_a_run() -> None:
    def step(action: str, admissible: bool) -> dict[str, Any]:
        # proto3 JSON leaves a false `admissible` out.
        return {"action": action, **({"admissible": True} if admissible else {})}

    looped = {**trajectory("a", False, []), "end_reason": "REPEATED_ACTION"}
    looped["steps"] = [step("take x", True)] + [step("go to desk 1", False)] * 5
    won = trajectory("b", True, [])
    won["steps"] = [step("look", True)] * 3 + [step("take y", True)]
    capped = trajectory("c", False, [])
    capped["steps"] = [step("help", True)] * 2 + [step("open z", False)]
    got = figures("r", [looped, won, capped])
    assert got.not_admissible == 6 and got.steps == 13
    assert got.repeated_kinds == {"go to": 1}
    # The limit ended one episode after 6 steps; the cap is 50.
    assert (got.limit_ended, got.limit_ended_steps, got.limit_saved_steps) == (1, 6, 44)
    # A limit of 3 ends the loop after step 4 (2 steps sooner) and the won one after step 3 (a win
    # lost); a limit of 5 ends neither sooner (the loop reached 5 on its last step).
    assert got.what_if == {3: (2, 3, 1), 5: (0, 0, 0)}


def test_the_replay_shows_repeats_as_the_policy_does() -> None:
    episode = trajectory("a", False, [("look", 1, 0)] * 3)
    shown = shown_steps(episode)
    assert [step.observation for step in shown] == ["o", "o", "o" + repeat_note(3)]
    # An episode played with the note off (or later) is replayed as it was shown.
    assert shown_steps({**episode, "settings": {"repeat_note_after": -1}})[-1].observation == "o"
    later = shown_steps({**episode, "settings": {"repeat_note_after": 2}})
    assert [step.observation for step in later] == ["o", "o" + repeat_note(2), "o" + repeat_note(3)]


def test_the_window_leaves_out_the_oldest_steps_one_at_a_time() -> None:
    counter = TokenCounter()
    steps = [PastStep((), f"action {i}", "x" * 400) for i in range(6)]

    def kept(budget: int) -> list[str]:
        messages = window_prompt(system="s", opening="o", steps=steps, budget_tokens=budget, counter=counter)
        return [m.content for m in messages if m.role == "assistant"]

    fixed = counter.message(Message("system", "s")) + counter.message(Message("user", "o"))
    everything = fixed + sum(counter.messages(step.messages) for step in steps)
    assert kept(everything) == [f"action {i}" for i in range(6)]
    fewer = kept(everything - 1)
    assert fewer == [f"action {i}" for i in range(1, 6)]
    opening = window_prompt(
        system="s", opening="o", steps=steps, budget_tokens=everything - 1, counter=counter
    )[1]
    assert opening.content == "o" + dropped_note(1)


def test_two_runs_of_the_same_games_compared_episode_by_episode() -> None:
    def episode(game_id: str, actions: list[str]) -> dict[str, Any]:
        played = trajectory("a", False, [(a, 1, 0) for a in actions])
        return {**played, "trajectory_id": f"{game_id}-{len(actions)}", "game": {"game_id": game_id}}

    first = [
        episode("g1", ["a", "b"]),
        episode("g2", ["a", "b", "c"]),
        episode("g3", ["a"]),
        episode("g4", ["x"]),
    ]
    second = [episode("g1", ["a", "b"]), episode("g2", ["a", "x", "c"]), episode("g3", ["a", "b"])]
    got = paired(first, second)
    # g4 is in one run only; g3 differs where one episode went on after the other ended.
    assert (got.games, got.identical, got.first_difference) == (3, 1, [2, 2])


def test_two_runs_compared_as_the_report_compares_them() -> None:
    def episode(game_id: str, task_type: str, won: bool, actions: list[str]) -> dict[str, Any]:
        played = trajectory(task_type, won, [(a, 100, 0) for a in actions])
        return {
            **played,
            "trajectory_id": f"{game_id}-{won}",
            "game": {"game_id": game_id, "task_type": task_type},
        }

    first = [episode(f"g{n}", "pick", True, ["go", "take"]) for n in range(9)] + [
        episode("g9", "heat", False, ["look"] * 4)
    ]
    second = [episode(f"g{n}", "pick", n == 0, ["go", "go", "go"]) for n in range(9)] + [
        episode("g9", "heat", True, ["open"])
    ]
    text = comparison_text("A", first, "B", second)
    # Won in A only: g1..g8 (8), in B only: g9 (1): p = 2 * (1 + 9) / 2^9.
    assert "A won 9/10 (90%), B won 2/10 (20%); both won 1, neither 0, A only 8, B only 1." in text
    assert "Exact McNemar p = 0.0391 (two-sided, over the 9 games won in one run only)" in text
    assert "| heat | 1 | 0 | 1 | 0 | 1 |" in text and "| pick | 9 | 9 | 1 | 8 | 0 |" in text
    assert "| episodes with one command 3+ times in a row | 1/10 (10%) | 9/10 (90%) |" in text
    assert "| longest run of one command | 4 | 3 |" in text
    assert "| tokens per step (prompt + completion) | 110 | 110 |" in text
    assert comparison_text("A", first, "C", [episode("other", "pick", True, ["go"])]).startswith(
        "A and C share no game."
    )


def test_p_is_written_as_the_report_page_writes_it() -> None:
    # Three significant digits with halves rounded up (JavaScript's toPrecision), then "< 0.001".
    assert [p_text(p) for p in (1.0, 0.5, 0.021484375, 0.03125, 0.001, 0.000999)] == [
        "p = 1",
        "p = 0.5",
        "p = 0.0215",
        "p = 0.0313",
        "p = 0.001",
        "p < 0.001",
    ]
