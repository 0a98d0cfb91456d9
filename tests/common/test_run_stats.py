"""The statistics core (alfagent_common.run_stats) on its own: the attempt rule, Wilson intervals,
McNemar's exact test, streaks, and the same episode read from a message and from its JSON."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import pytest
from google.protobuf import json_format

from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import run_stats
from alfagent_common.run_stats import Episode, mcnemar_exact, wilson_interval

# -- Wilson intervals -----------------------------------------------------------------------------


def _roots(wins: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's bounds from their definition: the p where (p_hat - p)^2 = z^2 p (1 - p) / n."""
    p_hat = wins / n
    # (1 + z^2/n) p^2 - (2 p_hat + z^2/n) p + p_hat^2 = 0
    a, b, c = 1 + z * z / n, -(2 * p_hat + z * z / n), p_hat * p_hat
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize(("wins", "n"), [(5, 10), (0, 10), (10, 10), (81, 100), (1, 1), (3, 250)])
def test_wilson_bounds_solve_the_wilson_equation(wins: int, n: int) -> None:
    low, high = wilson_interval(wins, n)
    expected_low, expected_high = _roots(wins, n, 1.96)
    assert math.isclose(low, max(0.0, expected_low), abs_tol=1e-12)
    assert math.isclose(high, min(1.0, expected_high), abs_tol=1e-12)


@pytest.mark.parametrize(
    ("wins", "n", "low", "high"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion", table I.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # Closed forms: z^2 / (n + z^2) for no win; and the symmetric 5 of 10.
        (0, 10, 0.0, 0.2775),
        (0, 30, 0.0, 0.1135),
        (5, 10, 0.2366, 0.7634),
    ],
)
def test_wilson_bounds_match_known_values(wins: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(wins, n)
    assert (round(got[0], 4), round(got[1], 4)) == (low, high)


def test_wilson_closed_forms_at_zero_and_all_wins() -> None:
    z2 = 1.96**2
    assert math.isclose(wilson_interval(0, 10)[1], z2 / (10 + z2))
    assert math.isclose(wilson_interval(10, 10)[0], 10 / (10 + z2))
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0


def test_no_episodes_means_nothing_is_known() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_the_interval_contains_the_rate_and_narrows_with_n() -> None:
    widths = []
    for n in (10, 100, 1000):
        low, high = wilson_interval(n // 4, n)
        assert 0.0 <= low <= 0.25 <= high <= 1.0
        widths.append(high - low)
    assert widths == sorted(widths, reverse=True)


def test_a_wider_z_gives_a_wider_interval() -> None:
    low95, high95 = wilson_interval(30, 60)
    low99, high99 = wilson_interval(30, 60, z=2.576)
    assert low99 < low95 and high99 > high95


@pytest.mark.parametrize(("wins", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_rejects_impossible_counts(wins: int, n: int) -> None:
    with pytest.raises(ValueError, match="wins"):
        wilson_interval(wins, n)


# -- McNemar's exact test ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        # n = 10: 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024.
        (1, 9, 0.021484375),
        (9, 1, 0.021484375),
        # n = 5, nothing on one side: 2 / 32; n = 6: 2 / 64.
        (0, 5, 0.0625),
        (0, 6, 0.03125),
        # n = 12: 2 * (1 + 12 + 66) / 4096.
        (2, 10, 158 / 4096),
        # n = 8: 2 * (1 + 8 + 28) / 256.
        (2, 6, 74 / 256),
        # Even splits and no discordant game at all: no evidence of a difference.
        (3, 3, 1.0),
        (0, 0, 1.0),
        # n = 1: 2 * 1/2.
        (0, 1, 1.0),
    ],
)
def test_mcnemar_exact_against_hand_computed_values(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == p


def test_mcnemar_is_exact_where_a_float_sum_would_drift() -> None:
    b, c = 40, 160
    n = b + c
    exact = Fraction(2 * sum(math.comb(n, k) for k in range(b + 1)), 2**n)
    assert mcnemar_exact(b, c) == float(exact)
    assert 0 < mcnemar_exact(b, c) < 1e-15


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


# -- the attempt rule -------------------------------------------------------------------------------


def episode(
    game_id: str,
    attempt: int,
    end_reason: str,
    *,
    won: bool = False,
    task_type: str = "pick",
    actions: tuple[str, ...] = (),
) -> Episode:
    return Episode(
        game_id=game_id,
        task_type=task_type,
        won=won,
        end_reason=end_reason,
        steps=len(actions) or 2,
        goal_progress=1.0 if won else 0.5,
        prompt_tokens=100,
        completion_tokens=10,
        trajectory_id=f"{game_id}:{attempt}",
        attempt=attempt,
        actions=actions,
    )


def ids(episodes: list[Episode]) -> list[str]:
    return [e.trajectory_id for e in episodes]


def test_a_resumed_game_counts_once_as_its_latest_attempt() -> None:
    run = [
        episode("a", 0, "CANCELLED"),
        episode("a", 1, "WON", won=True),
        episode("b", 0, "STEP_LIMIT"),
        episode("c", 0, "ENV_ERROR"),  # not played again (yet): it counts
        episode("d", 0, "LLM_ERROR"),
        episode("d", 1, "ENV_ERROR"),
        episode("d", 2, "REPEATED_ACTION"),
        episode("e", 0, "STEP_LIMIT"),
        episode("e", 1, "WON", won=True),  # a deliberate second attempt: both count
    ]
    assert run_stats.superseded(run) == {"a:0", "d:0", "d:1"}
    kept = run_stats.counted(run)
    assert ids(kept) == ["a:1", "b:0", "c:0", "d:2", "e:0", "e:1"]
    _, overall = run_stats.success_by_task_type(kept)
    assert (overall.episodes, overall.wins) == (6, 2)
    assert run_stats.end_reasons(kept) == {"WON": 2, "STEP_LIMIT": 2, "ENV_ERROR": 1, "REPEATED_ACTION": 1}


def test_the_rule_does_not_depend_on_the_order_episodes_arrive_in() -> None:
    run = [episode("a", 0, "CANCELLED"), episode("a", 1, "LLM_ERROR"), episode("a", 2, "WON", won=True)]
    for order in ([2, 1, 0], [1, 2, 0], [0, 2, 1]):
        assert run_stats.superseded([run[i] for i in order]) == {"a:0", "a:1"}


def test_attempts_one_at_a_time_says_what_counts_and_what_it_replaces() -> None:
    attempts: run_stats.Attempts[str] = run_stats.Attempts()
    assert attempts.add("g", 0, "CANCELLED", "g0", scope="run-1") == (True, [])
    # The same game in another run is another game.
    assert attempts.add("g", 1, "WON", "other", scope="run-2") == (True, [])
    assert attempts.add("g", 1, "ENV_ERROR", "g1", scope="run-1") == (True, ["g0"])
    assert attempts.add("g", 2, "WON", "g2", scope="run-1") == (True, ["g1"])
    # Arriving late, an earlier cut attempt never counts; an earlier result does.
    assert attempts.add("g", 0, "LLM_ERROR", "late", scope="run-1") == (False, [])
    assert attempts.add("g", 0, "STEP_LIMIT", "result", scope="run-1") == (True, [])
    # Without a game id there is nothing to be replaced by.
    assert attempts.add("", 0, "CANCELLED", "x") == (True, [])
    assert attempts.add("", 3, "WON", "y") == (True, [])


def test_success_rows_are_sorted_by_task_type_with_the_overall_row_apart() -> None:
    run = [
        episode("a", 0, "WON", won=True, task_type="pick"),
        episode("b", 0, "STEP_LIMIT", task_type="heat"),
        episode("c", 0, "WON", won=True, task_type="pick"),
    ]
    rows, overall = run_stats.success_by_task_type(run)
    assert [(r.task_type, r.episodes, r.wins) for r in rows] == [("heat", 1, 0), ("pick", 2, 2)]
    assert overall.task_type == "all" and overall.success_rate == pytest.approx(2 / 3)
    assert (overall.success_ci_low, overall.success_ci_high) == wilson_interval(2, 3)
    assert overall.mean_steps == 2 and overall.mean_goal_progress == pytest.approx(2.5 / 3)
    assert (overall.prompt_tokens, overall.completion_tokens) == (300, 30)


def test_a_tally_takes_back_what_it_added() -> None:
    tally = run_stats.Tally()
    first, second = episode("a", 0, "CANCELLED"), episode("a", 1, "WON", won=True)
    tally.add(first)
    tally.add(second)
    tally.remove(first)
    assert run_stats.summary_row("t", tally) == run_stats.summary_row("t", _tally_of(second))


def _tally_of(*episodes: Episode) -> run_stats.Tally:
    tally = run_stats.Tally()
    for e in episodes:
        tally.add(e)
    return tally


# -- streaks ----------------------------------------------------------------------------------------


def test_repeat_streaks() -> None:
    actions = ["a", "b", "b", "a", "b", "b", "b", "b"]
    assert run_stats.identical_runs(actions) == [(1, 1), (2, 2), (4, 1), (5, 4)]
    # Where a repeated-action limit of n would have ended the episode.
    assert [run_stats.streak_end(actions, n) for n in (1, 2, 3, 4, 5)] == [1, 3, 7, 8, 0]
    assert run_stats.longest_streak(actions) == 4
    assert run_stats.streak_end([], 1) == 0 and run_stats.longest_streak([]) == 0
    assert run_stats.longest_streak(["x"]) == 1


def test_behaviour_of_a_run() -> None:
    looped = Episode("g1", "pick", False, "REPEATED_ACTION", 6, 0.0, 600, 60, actions=("t",) + ("go",) * 5)
    looped = replace(looped, not_admissible=5, model_calls=6)
    searched = replace(
        episode("g2", 0, "WON", won=True, actions=("a", "b", "a")), not_admissible=1, model_calls=9
    )
    played = run_stats.behaviour([looped, searched])
    assert (played.episodes, played.steps, played.not_admissible) == (2, 9, 6)
    assert played.not_admissible_rate == pytest.approx(6 / 9)
    assert (played.repeated, played.repeat_rate, played.longest_streak) == (1, 0.5, 5)
    assert played.model_calls_per_step == pytest.approx(15 / 9)
    assert played.tokens_per_step == pytest.approx((600 + 60 + 100 + 10) / 9)
    empty = run_stats.behaviour([])
    assert (empty.not_admissible_rate, empty.repeat_rate, empty.tokens_per_step) == (0.0, 0.0, 0.0)


# -- two runs compared ------------------------------------------------------------------------------


def test_paired_games_are_mcnemars_table() -> None:
    a = [
        episode("g1", 0, "WON", won=True, task_type="pick"),
        episode("g2", 0, "STEP_LIMIT", task_type="pick"),
        episode("g3", 0, "WON", won=True, task_type="heat"),
        episode("g4", 0, "WON", won=True, task_type="heat"),
        episode("only-in-a", 0, "WON", won=True),
    ]
    b = [
        episode("g1", 0, "STEP_LIMIT", task_type="pick"),
        episode("g2", 0, "WON", won=True, task_type="pick"),
        episode("g3", 0, "STEP_LIMIT", task_type="heat"),
        episode("g4", 0, "WON", won=True, task_type="heat"),
        # A game played twice in one run (a deliberate second attempt): won if either was.
        episode("g4", 1, "STEP_LIMIT", task_type="heat"),
    ]
    pair = run_stats.paired_games(a, b)
    assert pair.games == ["g1", "g2", "g3", "g4"]
    assert (pair.won_in_a_only, pair.won_in_b_only) == (["g1", "g3"], ["g2"])
    assert (pair.won_in_both, pair.won_in_neither, pair.a_wins, pair.b_wins) == (1, 0, 3, 2)
    assert pair.p_value == mcnemar_exact(2, 1) == 1.0
    assert pair.by_task_type == [
        run_stats.TypePair("heat", games=2, a_wins=2, b_wins=1, a_only=1, b_only=0),
        run_stats.TypePair("pick", games=2, a_wins=1, b_wins=1, a_only=1, b_only=1),
    ]
    assert run_stats.paired_games(a, []).games == []


# -- the same episode from a message and from its JSON ----------------------------------------------


def sample_trajectory(
    policy: trajectory_pb2.Policy.ValueType = trajectory_pb2.LLM,
) -> trajectory_pb2.Trajectory:
    trajectory = trajectory_pb2.Trajectory(
        trajectory_id="run:g:1",
        run_id="run",
        policy=policy,
        won=False,
        end_reason=trajectory_pb2.REPEATED_ACTION,
        goal_progress=1 / 3,
        attempt=1,
        game=trajectory_pb2.Game(game_id="g", task_type="pick_two_obj_and_place"),
        usage=trajectory_pb2.Usage(prompt_tokens=1234, completion_tokens=56),
    )
    trajectory.steps.add(
        action="go to desk 1", thought="I need a pen.\nFirst the desk.", raw_output="x", admissible=True
    )
    trajectory.steps.add(action="take pen 1", raw_output="take pen 1")
    # A skill call: its first command answers the model's reply, the next ones ask no model.
    trajectory.steps.add(
        action="go to shelf 1", raw_output="move(obj=pen 1)", skill="move(obj=pen 1)", admissible=True
    )
    trajectory.steps.add(action="move pen 1 to shelf 1", skill="move(obj=pen 1)", admissible=True)
    return trajectory


def test_an_episode_reads_the_same_from_the_message_and_from_its_json() -> None:
    trajectory = sample_trajectory()
    from_message = run_stats.episode_of(trajectory)
    document = json_format.MessageToDict(trajectory, preserving_proto_field_name=True)
    from_json = run_stats.episode_of_document(document)
    assert from_message.goal_progress == pytest.approx(1 / 3)
    # The JSON holds goal progress in its shortest float32 form, the message as a float32.
    assert from_json == replace(from_message, goal_progress=from_json.goal_progress)
    assert from_message.end_reason == "REPEATED_ACTION" and from_message.attempt == 1
    assert from_message.actions == ("go to desk 1", "take pen 1", "go to shelf 1", "move pen 1 to shelf 1")
    assert from_message.not_admissible == 1
    # 1 + 2 thoughts, 1, 1 for the skill call, none for the skill's next command.
    assert from_message.model_calls == 5


def test_only_llm_episodes_call_a_model() -> None:
    assert run_stats.episode_of(sample_trajectory(trajectory_pb2.EXPERT)).model_calls == 0
    document = json_format.MessageToDict(
        sample_trajectory(trajectory_pb2.RANDOM), preserving_proto_field_name=True
    )
    assert run_stats.episode_of_document(document).model_calls == 0


def test_an_end_reason_a_newer_writer_added_is_kept_as_its_number() -> None:
    assert run_stats.end_reason_name(99) == "99"
    assert run_stats.end_reason_name(trajectory_pb2.WON) == "WON"
    assert run_stats.episode_of_document({"end_reason": 99}).end_reason == "99"
