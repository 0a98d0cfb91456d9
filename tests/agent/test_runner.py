"""The episode loop's rules, with the env and store replaced at the I/O boundary by small
in-memory versions that follow the same contracts (won/done, step cap, idempotent store)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from agent_service.convert import summary_to_proto, trajectory_to_proto
from agent_service.episode import (
    Decision,
    EndReason,
    EpisodeOutcome,
    EpisodeRequest,
    GameRef,
    PolicyKind,
    Usage,
)
from agent_service.evaluation import EvaluationRequest, EvaluationSummary, Evaluator, Progress, choose_games
from agent_service.policies import ExpertPolicy, Policy, PolicyError, RandomPolicy, TurnView
from agent_service.runner import EnvSession, EnvState, EpisodeRunner, trajectory_id_for
from agent_service.settings import NAMES as SETTING_NAMES
from agent_service.settings import EpisodeSettings
from alfagent_common import errors
from store_service import records
from store_service.index import Index, Location
from tests.agent.memory import PLAN, MemoryEnv, MemoryStore


class ScriptedPolicy:
    needs_expert_plan = False

    def __init__(self, actions: list[str], tokens: int = 0) -> None:
        self.actions = list(actions)
        self.tokens = tokens

    async def decide(self, view: TurnView) -> Decision:
        if not self.actions:
            raise PolicyError("endpoint answered 401")
        return Decision(action=self.actions.pop(0), usage=Usage(self.tokens, 1))


def run(
    policy: Policy, request: EpisodeRequest, env: MemoryEnv | None = None, store: MemoryStore | None = None
) -> tuple[EpisodeOutcome, MemoryEnv, MemoryStore]:
    env = env or MemoryEnv()
    store = store or MemoryStore()
    outcome = asyncio.run(EpisodeRunner(env, store, lambda _: policy).run(request))
    return outcome, env, store


def expert_request(**overrides: Any) -> EpisodeRequest:
    """An EXPERT episode; `overrides` are request fields or settings, by name."""
    settings = {name: overrides.pop(name) for name in list(overrides) if name in SETTING_NAMES}
    return EpisodeRequest(
        **{"policy": PolicyKind.EXPERT, "run_id": "r1", "settings": EpisodeSettings(**settings), **overrides}
    )


def test_expert_wins_and_the_trajectory_is_stored_once_and_the_session_closed() -> None:
    outcome, env, store = run(ExpertPolicy(), expert_request())
    assert outcome.won and outcome.end_reason is EndReason.WON and outcome.steps == len(PLAN)
    record = store.stored[outcome.trajectory_id]
    assert [s.decision.action for s in record.steps] == list(PLAN)
    assert record.steps[-1].won and record.goal_progress == 1.0
    assert env.closed == ["s0"]
    assert outcome.trajectory_id == trajectory_id_for(
        "r1", "generated_eval/pick_and_place_simple-Pencil-None-Shelf-0/trial_T0", 0
    )


def test_trajectory_ids_are_deterministic_and_distinct() -> None:
    assert trajectory_id_for("r", "g", 0) == trajectory_id_for("r", "g", 0)
    assert (
        len({trajectory_id_for("r", "g", 0), trajectory_id_for("r", "g", 1), trajectory_id_for("r2", "g", 0)})
        == 3
    )


def test_step_cap_ends_without_a_win() -> None:
    outcome, _, store = run(ScriptedPolicy(["look"] * 10), expert_request(max_steps=3))
    assert outcome.end_reason is EndReason.STEP_LIMIT and not outcome.won and outcome.steps == 3
    assert store.stored[outcome.trajectory_id].steps[-1].done


def test_repeated_action_limit() -> None:
    outcome, _, _ = run(ScriptedPolicy(["look"] * 10), expert_request(max_repeated_actions=4))
    assert outcome.end_reason is EndReason.REPEATED_ACTION and outcome.steps == 4


def test_token_budget() -> None:
    outcome, _, _ = run(ScriptedPolicy(["look"] * 10, tokens=100), expert_request(token_budget=250))
    assert outcome.end_reason is EndReason.TOKEN_BUDGET and outcome.steps == 3
    assert outcome.usage == Usage(300, 3)


def test_policy_failure_is_stored_as_llm_error() -> None:
    request = expert_request(policy=PolicyKind.LLM)
    outcome, env, store = run(ScriptedPolicy(["look"]), request)
    assert outcome.end_reason is EndReason.LLM_ERROR and "401" in outcome.error and outcome.steps == 1
    assert outcome.trajectory_id in store.stored and env.closed == ["s0"]


def test_tokens_spent_by_a_failed_turn_are_counted() -> None:
    class FailsAfterThinking:
        needs_expert_plan = False

        async def decide(self, view: TurnView) -> Decision:
            if view.step_index == 2:
                raise PolicyError("endpoint answered 500 six times", ("500",) * 5, usage=Usage(40, 7))
            return Decision(action="look", usage=Usage(10, 1))

    outcome, _, store = run(FailsAfterThinking(), expert_request(policy=PolicyKind.LLM))
    assert outcome.end_reason is EndReason.LLM_ERROR and outcome.usage == Usage(50, 8)
    assert store.stored[outcome.trajectory_id].retry_causes == {"500": 5}


def test_env_failure_is_stored_as_env_error() -> None:
    outcome, env, store = run(ExpertPolicy(), expert_request(), env=MemoryEnv(fail_at_step=2))
    assert outcome.end_reason is EndReason.ENV_ERROR and "crashed" in outcome.error and outcome.steps == 1
    assert outcome.trajectory_id in store.stored and env.closed == ["s0"]


def test_cancellation_stores_a_cancelled_episode_and_closes_the_session() -> None:
    class Stalling:
        needs_expert_plan = False

        async def decide(self, view: TurnView) -> Decision:
            if view.step_index == 3:
                await asyncio.sleep(3600)
            return Decision(action="look")

    env, store = MemoryEnv(), MemoryStore()

    async def cancel_midway() -> None:
        task = asyncio.create_task(EpisodeRunner(env, store, lambda _: Stalling()).run(expert_request()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    (record,) = store.stored.values()
    assert record.end_reason is EndReason.CANCELLED and len(record.steps) == 2
    assert env.closed == ["s0"]


def test_random_policy_is_seeded() -> None:
    view = TurnView("t", "task", "obs", (), tuple(f"go to place {i}" for i in range(30)), ())

    async def actions(seed: int) -> list[str]:
        policy = RandomPolicy(seed)
        return [(await policy.decide(view)).action for _ in range(10)]

    assert asyncio.run(actions(3)) == asyncio.run(actions(3)) != asyncio.run(actions(4))


def game(task_type: str, number: int) -> GameRef:
    return GameRef(
        f"generated_eval/{task_type}-{number}/trial_T0", "generated_eval", task_type, "task", "generated"
    )


def test_choose_games_interleaves_task_types_up_to_the_limit() -> None:
    games = {"a": [game("a", 1), game("a", 2)], "b": [game("b", 1)], "c": [game("c", 1), game("c", 2)]}
    chosen = choose_games(games, 4)
    assert [g.game_id.split("/")[1] for g in chosen] == ["a-1", "b-1", "c-1", "a-2"]
    assert len(choose_games(games, 0)) == 5


class ListedGames:
    def __init__(self, games: list[GameRef]) -> None:
        self.games = games

    async def list_games(self, split: str, task_type: str) -> list[GameRef]:
        return [g for g in self.games if not task_type or g.task_type == task_type]


def test_evaluation_concurrency_is_capped_by_the_agent_limit() -> None:
    games = [game("pick_and_place_simple", n) for n in range(6)]
    in_flight, peak = 0, 0

    class CountingEnv(MemoryEnv):
        async def reset(self, request: EpisodeRequest, *, with_expert_plan: bool) -> EnvSession:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            return await super().reset(request, with_expert_plan=with_expert_plan)

        async def close(self, session_id: str) -> None:
            nonlocal in_flight
            in_flight -= 1
            await super().close(session_id)

    env, store = CountingEnv(), MemoryStore()
    evaluator = Evaluator(
        EpisodeRunner(env, store, lambda _: ExpertPolicy()), ListedGames(games), store, max_concurrency=2
    )
    request = EvaluationRequest("cap", "generated_eval", (), 0, 16, expert_request(run_id=""))

    async def ignore(progress: Progress) -> None:
        return None

    summary = asyncio.run(evaluator.run(request, ignore))
    assert summary.overall.episodes == 6 and peak == 2


def test_evaluation_resumes_without_replaying_or_duplicating() -> None:
    games = [game(t, n) for t in ("pick_and_place_simple", "pick_two_obj_and_place") for n in range(3)]
    env, store = MemoryEnv(), MemoryStore()
    runner = EpisodeRunner(env, store, lambda _: ExpertPolicy())
    evaluator = Evaluator(runner, ListedGames(games), store)
    request = EvaluationRequest("eval-1", "generated_eval", (), 4, 2, expert_request(run_id=""))
    seen: list[Progress] = []

    async def listen(progress: Progress) -> None:
        seen.append(progress)

    first = asyncio.run(evaluator.run(request, listen))
    assert first.overall.episodes == 4 and first.resumed == 0 and len(store.stored) == 4
    assert [p.completed for p in seen] == [1, 2, 3, 4] and {p.total for p in seen} == {4}

    full = asyncio.run(
        evaluator.run(EvaluationRequest("eval-1", "generated_eval", (), 0, 3, request.episode), listen)
    )
    assert full.overall.episodes == 6 and full.resumed == 4 and len(store.stored) == 6
    assert len(env.sessions) == 6, "resumed games are not played again"
    assert full.overall.wins == 6 and full.overall.success_rate == 1.0
    assert {row.task_type for row in full.rows} == {"pick_and_place_simple", "pick_two_obj_and_place"}
    assert 0.5 < full.overall.success_ci_low < 0.99
    assert full.overall.success_ci_high == pytest.approx(1.0)


def test_a_resume_plays_again_what_the_harness_cut_short_and_counts_the_later_attempt() -> None:
    """Stopped, env failure, endpoint failure: played again under attempt 1 on resume; a game the
    policy lost stays as it was."""
    games = [game("pick_and_place_simple", n) for n in range(4)]
    cancelled, env_failed, llm_failed, lost = (g.game_id for g in games)
    store = MemoryStore()
    first_run = expert_request(run_id="resume")

    class StallsForever:
        needs_expert_plan = False

        async def decide(self, view: TurnView) -> Decision:
            await asyncio.sleep(3600)
            return Decision(action="look")

    async def stop_midway() -> None:
        runner = EpisodeRunner(MemoryEnv(), store, lambda _: StallsForever())
        task = asyncio.create_task(runner.run(replace(first_run, game_id=cancelled)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(stop_midway())
    run(ExpertPolicy(), replace(first_run, game_id=env_failed), MemoryEnv(fail_at_step=2), store)
    run(ScriptedPolicy([]), replace(first_run, game_id=llm_failed, policy=PolicyKind.LLM), store=store)
    run(
        ScriptedPolicy(["look"] * 3),
        replace(first_run, game_id=lost, settings=EpisodeSettings(max_steps=3)),
        store=store,
    )
    ended = {record.game.game_id: record.end_reason for record in store.stored.values()}
    assert list(ended.values()) == [
        EndReason.CANCELLED,
        EndReason.ENV_ERROR,
        EndReason.LLM_ERROR,
        EndReason.STEP_LIMIT,
    ]

    env = MemoryEnv()
    evaluator = Evaluator(EpisodeRunner(env, store, lambda _: ExpertPolicy()), ListedGames(games), store)
    request = EvaluationRequest("resume", "generated_eval", (), 0, 2, expert_request(run_id=""))

    async def ignore(progress: Progress) -> None:
        return None

    resumed = asyncio.run(evaluator.run(request, ignore))
    assert sorted(r.game_id for r in env.resets) == sorted([cancelled, env_failed, llm_failed])
    assert {r.attempt for r in env.resets} == {1}
    assert (resumed.overall.episodes, resumed.overall.wins, resumed.resumed) == (4, 3, 1)
    for game_id in (cancelled, env_failed, llm_failed):
        assert store.stored[trajectory_id_for("resume", game_id, 1)].won
        assert trajectory_id_for("resume", game_id, 0) in store.stored, "the cut episode stays stored"
    # Once more: every game's result is stored, nothing is played.
    again = asyncio.run(evaluator.run(request, ignore))
    assert len(env.resets) == 3 and (again.overall.wins, again.resumed) == (3, 4)
    assert len(store.stored) == 7

    # The store's GetStats counts the stored run as the summary does (the statistics core's
    # attempt rule), and keeps the 7 trajectories apart.
    index = Index()
    for number, record in enumerate(store.stored.values()):
        index.add(records.meta_of(trajectory_to_proto(record)), Location(0, number, 1))
    stats = records.stats_to_proto("resume", index.stats("resume"))
    summary = summary_to_proto(again).summary
    assert stats.trajectories == 7 and stats.overall.episodes == 4
    for field in ("episodes", "wins", "success_rate", "success_ci_low", "success_ci_high", "mean_steps"):
        assert getattr(stats.overall, field) == getattr(summary.overall, field), field
    assert stats.overall.mean_goal_progress == pytest.approx(summary.overall.mean_goal_progress)


def test_two_evaluations_of_one_run_id_store_each_game_once_and_report_what_is_stored() -> None:
    """Two agents on one store, the same run id at once, policies that end differently: each game
    is stored exactly once, and both summaries are the store's, not their own plays."""
    games = [game(t, n) for t in ("pick_and_place_simple", "pick_two_obj_and_place") for n in range(4)]
    store = MemoryStore()
    expert = Evaluator(EpisodeRunner(MemoryEnv(), store, lambda _: SlowExpert()), ListedGames(games), store)
    looker = Evaluator(EpisodeRunner(MemoryEnv(), store, lambda _: Looker()), ListedGames(games), store)
    request = EvaluationRequest("shared", "generated_eval", (), 0, 3, expert_request(run_id="", max_steps=6))

    async def ignore(progress: Progress) -> None:
        return None

    async def both() -> list[EvaluationSummary]:
        return list(await asyncio.gather(expert.run(request, ignore), looker.run(request, ignore)))

    summaries = asyncio.run(both())
    assert len(store.stored) == len(games)
    assert {record.game.game_id for record in store.stored.values()} == {g.game_id for g in games}
    stored_wins = sum(record.won for record in store.stored.values())
    # The expert wins every game it plays; the slower of the two, it lost the race for some.
    assert stored_wins < len(games)
    for summary in summaries:
        assert summary.overall.episodes == len(games)
        assert summary.overall.wins == stored_wins


class SlowExpert(ExpertPolicy):
    async def decide(self, view: TurnView) -> Decision:
        await asyncio.sleep(0.02)
        return await super().decide(view)


class Looker:
    needs_expert_plan = False

    async def decide(self, view: TurnView) -> Decision:
        await asyncio.sleep(0)
        return Decision(action="look")


def test_an_unexpected_policy_failure_still_stores_the_episode_and_closes_the_session() -> None:
    class Broken:
        needs_expert_plan = False

        async def decide(self, view: TurnView) -> Decision:
            if view.step_index == 2:
                raise KeyError("bug")
            return Decision(action="look")

    outcome, env, store = run(Broken(), expert_request())
    assert outcome.end_reason is EndReason.ENV_ERROR and "KeyError" in outcome.error and outcome.steps == 1
    assert outcome.trajectory_id in store.stored and env.closed == ["s0"]


def test_a_game_that_cannot_start_stops_the_evaluation_without_cancelling_episodes_in_flight() -> None:
    """The env went away for longer than a reset waits: the games in flight play to their end
    and are stored, no new game starts, the error reaches the caller, and a re-run resumes."""
    games = [game("pick_and_place_simple", n) for n in range(6)]

    class EnvLostAfterTwoResets(MemoryEnv):
        lost = True

        async def reset(self, request: EpisodeRequest, *, with_expert_plan: bool) -> EnvSession:
            if len(self.resets) >= 2 and self.lost:
                raise errors.Unavailable("env_service: UNAVAILABLE: connection refused")
            return await super().reset(request, with_expert_plan=with_expert_plan)

        async def step(self, session_id: str, action: str) -> EnvState:
            await asyncio.sleep(0.01)  # the episodes in flight outlive the failed reset
            return await super().step(session_id, action)

    env, store = EnvLostAfterTwoResets(), MemoryStore()
    evaluator = Evaluator(EpisodeRunner(env, store, lambda _: ExpertPolicy()), ListedGames(games), store)
    request = EvaluationRequest("lost", "generated_eval", (), 0, 3, expert_request(run_id=""))

    async def ignore(progress: Progress) -> None:
        return None

    with pytest.raises(errors.Unavailable):
        asyncio.run(evaluator.run(request, ignore))
    assert len(store.stored) == 2, "both episodes in flight were played to the end and stored"
    assert {r.end_reason for r in store.stored.values()} == {EndReason.WON}

    env.lost = False
    summary = asyncio.run(evaluator.run(request, ignore))
    assert summary.overall.episodes == 6 and summary.resumed == 2 and len(store.stored) == 6
