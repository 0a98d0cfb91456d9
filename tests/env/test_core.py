"""EnvCore, the env service's rules, in this process: a fake pool and a fake clock, no textworld.

Placement, the session cap, the step cap, idle expiry and lost workers, each in milliseconds; the
same rules over gRPC and real games are in the contract suite (contract.py) and, with real worker
processes killed, in test_sessions_and_faults.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from alfagent_common import errors
from env_service.protocol import Close, Reset, Step
from env_service.sessions import AFFINITY_SLACK, EnvCore, GameSelection
from tests.env.fakes import TASK_TYPES, WINNING_ACTION, FakeClock, FakePool, core

T = TypeVar("T")
FIRST = GameSelection(index=0)
SECOND = GameSelection(index=1)


def run(awaitable: Awaitable[T]) -> T:
    async def main() -> T:
        return await awaitable

    return asyncio.run(main())


async def reset(env: EnvCore, selection: GameSelection = FIRST, max_steps: int = 0) -> str:
    return (await env.reset(selection, with_expert_plan=False, max_steps=max_steps)).session_id


# -- placement -------------------------------------------------------------------------------


def test_a_game_stays_on_the_worker_that_has_it_until_that_worker_is_too_busy() -> None:
    async def body() -> list[list[int]]:
        env = core(FakePool(size=2))
        placements = []
        for _ in range(AFFINITY_SLACK + 2):
            await reset(env, FIRST)
            placements.append(env.sessions_per_worker())
        return placements

    # The same rule test_sessions_and_faults.py checks with real workers.
    assert run(body()) == [[1, 0], [2, 0], [3, 0], [3, 1]]


def test_new_games_go_to_the_least_loaded_worker() -> None:
    async def body() -> list[int]:
        pool = FakePool(size=3)
        env = core(pool)
        for index in range(6):
            await reset(env, GameSelection(index=index % 3, task_type="look_at_obj_in_light"))
        return env.sessions_per_worker()

    assert run(body()) == [2, 2, 2]


def test_resets_in_flight_count_as_load() -> None:
    async def body() -> list[int]:
        pool = FakePool(size=2, hold=asyncio.Event())
        env = core(pool)
        resets = [asyncio.create_task(reset(env, GameSelection(index=index))) for index in range(4)]
        while len(pool.sent(Reset)) < 4:
            await asyncio.sleep(0)
        assert pool.hold is not None
        pool.hold.set()
        await asyncio.gather(*resets)
        return [worker for worker, _ in pool.sent(Reset)]

    # Without counting them, all four would go to worker 0, which had no open session yet.
    assert sorted(run(body())) == [0, 0, 1, 1]


def test_the_worker_gets_the_game_file_and_the_settings() -> None:
    async def body() -> Reset:
        pool = FakePool()
        env = core(pool)
        env.replan_seconds = 7.5
        await env.reset(SECOND, with_expert_plan=True, max_steps=0)
        ((_, request),) = pool.sent(Reset)
        return request

    request = run(body())
    assert request.game_path.startswith("generated_eval/") and request.game_path.endswith("trial_T1")
    assert request.with_expert_plan and request.replan_seconds == 7.5


# -- the session cap -------------------------------------------------------------------------


def test_the_session_cap_counts_open_sessions_and_resets_in_flight() -> None:
    async def body() -> None:
        pool = FakePool(hold=asyncio.Event())
        env = core(pool, max_sessions=2)
        first = asyncio.create_task(reset(env))
        while not pool.sent(Reset):
            await asyncio.sleep(0)
        assert pool.hold is not None
        pool.hold.set()
        await first
        pool.hold = None
        await reset(env)
        with pytest.raises(errors.ResourceExhausted, match="ENV_MAX_SESSIONS"):
            await reset(env)
        assert len(pool.sent(Reset)) == 2  # the refused reset never reached a worker
        await env.close(await first)
        await reset(env)  # closing one makes room

    run(body())


def test_a_failed_reset_leaves_no_session_and_no_load() -> None:
    async def body() -> None:
        pool = FakePool(fail_next=errors.Aborted("env worker 0 crashed (exit code -9) during the request"))
        env = core(pool, max_sessions=1)
        with pytest.raises(errors.Aborted):
            await reset(env)
        assert env.live_sessions == 0 and env.sessions_per_worker() == [0, 0]
        await reset(env)  # the cap of 1 is free again

    run(body())


# -- steps -----------------------------------------------------------------------------------


def test_the_step_cap_ends_the_episode_and_a_later_step_is_a_failed_precondition() -> None:
    async def body() -> None:
        pool = FakePool()
        env = core(pool)
        session = await reset(env, max_steps=2)
        first = await env.step(session, "look")
        second = await env.step(session, "look")
        assert (first.step_index, first.done) == (1, False)
        assert (second.step_index, second.done, second.observation.won) == (2, True, False)
        with pytest.raises(errors.FailedPrecondition, match="has ended after 2 steps"):
            await env.step(session, "look")
        assert len(pool.sent(Step)) == 2

    run(body())


def test_a_win_ends_the_episode() -> None:
    async def body() -> None:
        env = core(FakePool())
        session = await reset(env)
        result = await env.step(session, WINNING_ACTION)
        assert result.done and result.observation.won
        with pytest.raises(errors.FailedPrecondition):
            await env.step(session, "look")

    run(body())


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 1001, "1001 characters"),
        ("look\n", "control"),
        ("go\x00", "control"),
    ],
)
def test_bad_actions_are_refused_and_leave_the_session_untouched(action: str, message: str) -> None:
    async def body() -> None:
        pool = FakePool()
        env = core(pool, max_action_chars=1000)
        session = await reset(env)
        with pytest.raises(errors.InvalidRequest, match=message):
            await env.step(session, action)
        assert not pool.sent(Step)
        assert (await env.step(session, "look")).step_index == 1

    run(body())


@pytest.mark.parametrize("session_id", ["", "../../etc/passwd", "a" * 65, "abc def"])
def test_malformed_session_ids_are_invalid(session_id: str) -> None:
    async def body() -> None:
        env = core(FakePool())
        with pytest.raises(errors.InvalidRequest):
            await env.step(session_id, "look")
        with pytest.raises(errors.InvalidRequest):
            await env.close(session_id)

    run(body())


def test_unknown_and_closed_sessions_are_not_found_and_close_is_idempotent() -> None:
    async def body() -> None:
        pool = FakePool()
        env = core(pool)
        with pytest.raises(errors.NotFound, match="0123456789abcdef"):
            await env.step("0123456789abcdef", "look")
        session = await reset(env)
        assert await env.close(session) is True
        assert await env.close(session) is False
        with pytest.raises(errors.NotFound, match=session):
            await env.step(session, "look")
        assert len(pool.sent(Close)) == 1

    run(body())


# -- idle expiry -----------------------------------------------------------------------------


def test_sessions_idle_for_longer_than_the_ttl_are_closed() -> None:
    async def body() -> None:
        pool = FakePool()
        clock = FakeClock()
        env = core(pool, clock, session_ttl_seconds=10)
        idle = await reset(env, FIRST)
        busy = await reset(env, SECOND)
        clock.advance(8)
        await env.step(busy, "look")  # a step counts as use
        clock.advance(2)
        assert await env.close_idle() == 0  # exactly the TTL is not longer than it
        clock.advance(0.5)
        assert await env.close_idle() == 1
        with pytest.raises(errors.NotFound):
            await env.step(idle, "look")
        assert [request.session_id for _, request in pool.sent(Close)] == [idle]
        clock.advance(8)
        assert await env.close_idle() == 1
        assert env.live_sessions == 0

    run(body())


def test_a_session_in_the_middle_of_a_step_is_not_expired() -> None:
    async def body() -> None:
        clock = FakeClock()
        env = core(FakePool(), clock, session_ttl_seconds=10)
        session = await reset(env)
        clock.advance(60)
        # What a step holds while its worker plays: the session's lock.
        async with env._sessions[session].lock:
            assert await env.close_idle() == 0
        assert await env.close_idle() == 1

    run(body())


# -- lost workers ----------------------------------------------------------------------------


def test_a_lost_worker_aborts_only_its_own_sessions() -> None:
    async def body() -> None:
        pool = FakePool(size=2)
        env = core(pool)
        on_0 = await reset(env, FIRST)
        on_1 = await reset(env, SECOND)
        assert env.sessions_per_worker() == [1, 1]
        env.worker_lost(0)
        pool.replace(0)
        with pytest.raises(errors.Aborted, match=f"{on_0}.*crashed"):
            await env.step(on_0, "look")
        with pytest.raises(errors.Aborted):  # and again: it stays lost, not unknown
            await env.step(on_0, "look")
        assert (await env.step(on_1, "look")).step_index == 1
        assert env.live_sessions == 1
        # Closing a lost session asks nothing of the new worker, and forgets it.
        assert await env.close(on_0) is False
        assert not [request for worker, request in pool.sent(Close) if worker == 0]
        with pytest.raises(errors.NotFound):
            await env.step(on_0, "look")

    run(body())


def test_a_lost_worker_forgets_the_games_it_had() -> None:
    games = [GameSelection(task_type=t, index=i) for t in TASK_TYPES for i in range(3)]

    async def body() -> list[int]:
        env = core(FakePool(size=2))
        for selection in games[:3]:  # workers 0, 1, 0: worker 0 has translated two games
            await reset(env, selection)
        env.worker_lost(0)
        await reset(env, games[3])  # to the empty worker 0
        await reset(env, games[4])  # equal load: the worker with fewer games cached
        return env.sessions_per_worker()

    # Had worker 0 still counted the two games its predecessor translated, the last game would
    # have gone to worker 1 ([1, 2]).
    assert run(body()) == [2, 1]


def test_a_worker_dying_during_a_step_aborts_that_step() -> None:
    async def body() -> None:
        pool = FakePool()
        env = core(pool)
        session = await reset(env)
        pool.fail_next = errors.Aborted("env worker 0 crashed (exit code -9) during the request")
        with pytest.raises(errors.Aborted, match="crashed"):
            await env.step(session, "look")

    run(body())


# -- games -----------------------------------------------------------------------------------


def test_game_selection_errors() -> None:
    env = core(FakePool())
    with pytest.raises(errors.NotFound, match="no-such-game"):
        env.select_game(GameSelection(game_id="generated_eval/no-such-game/trial_T0"))
    with pytest.raises(errors.NotFound, match="no_such_split"):
        env.select_game(GameSelection(game_id="no_such_split/x/trial_T0"))
    with pytest.raises(errors.InvalidRequest, match="juggle"):
        env.select_game(GameSelection(task_type="juggle"))
    with pytest.raises(errors.InvalidRequest, match="valid_unseen_typo"):
        env.select_game(GameSelection(split="valid_unseen_typo"))
    with pytest.raises(errors.InvalidRequest, match="index 6 is out of range"):
        env.select_game(GameSelection(index=6))
    # The defaults: generated_eval, any task type, index 0.
    assert env.select_game(GameSelection()).game_id.startswith("generated_eval/")
    with pytest.raises(errors.InvalidRequest, match="max_steps"):
        run(env.reset(GameSelection(), with_expert_plan=False, max_steps=-1))


def test_list_games_pages() -> None:
    env = core(FakePool())
    first, token, total = env.list_games("generated_eval", "", 4, "")
    second, last_token, _ = env.list_games("generated_eval", "", 4, token)
    assert total == 6 and len(first) == 4 and len(second) == 2 and last_token == ""
    assert len({game.game_id for game in first + second}) == 6
    for bad_token in ("x", "-1", "13"):  # 12 games in all
        with pytest.raises(errors.InvalidRequest, match="page_token"):
            env.list_games("", "", 0, bad_token)
    with pytest.raises(errors.InvalidRequest, match="page_size"):
        env.list_games("", "", -1, "")
