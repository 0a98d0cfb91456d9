"""The EnvService contract: every RPC and the status code of every refusal, as env_service/README.md says.

`EnvContract` is subclassed by a test module per target, each providing a `channel` fixture (a
channel to the server under test), like dm_env_rpc's compliance suites:
- test_contract_in_process.py: the servicer, the core and real worker processes, served by this
  test process on a free port;
- test_contract_services.py: the running env service of the `services` fixture (started by the
  tests, already running at ENV_ADDR, or the compose stack with ALFAGENT_TEST_STACK=containers).
Statuses only a particular configuration or a fault shows (RESOURCE_EXHAUSTED at the session cap,
ABORTED after a worker crash) are pinned in test_contract_in_process.py with a fake pool, and with
real processes in test_sessions_and_faults.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2

TIMEOUT = 120
TASK_TYPE = "pick_and_place_simple"


def channel_to(address: str) -> Iterator[grpc.Channel]:
    """For the subclasses' `channel` fixtures: `yield from channel_to(address)`."""
    with grpc.insecure_channel(address) as channel:
        yield channel


def rpc_error(call: Callable[..., Any], request: Any) -> grpc.RpcError:
    """The error `call(request)` fails with (the test fails if it succeeds)."""
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=TIMEOUT)
    return caught.value


def assert_status(error: grpc.RpcError, code: grpc.StatusCode, *named: str) -> None:
    assert error.code() == code, f"{error.code()} {error.details()}"
    for text in named:
        assert text in (error.details() or ""), f"{text!r} not in {error.details()!r}"


class EnvContract:
    """What any EnvService must do. Subclasses provide a `channel` fixture to the server under test."""

    @pytest.fixture
    def env(self, channel: grpc.Channel) -> env_pb2_grpc.EnvServiceStub:
        return env_pb2_grpc.EnvServiceStub(channel)

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def reset(env: env_pb2_grpc.EnvServiceStub, **fields: Any) -> env_pb2.ResetResponse:
        response: env_pb2.ResetResponse = env.Reset(
            env_pb2.ResetRequest(**{"task_type": TASK_TYPE, **fields}), timeout=TIMEOUT
        )
        return response

    @staticmethod
    def step(env: env_pb2_grpc.EnvServiceStub, session_id: str, action: str) -> env_pb2.StepResponse:
        response: env_pb2.StepResponse = env.Step(
            env_pb2.StepRequest(session_id=session_id, action=action), timeout=TIMEOUT
        )
        return response

    @staticmethod
    def close(env: env_pb2_grpc.EnvServiceStub, session_id: str) -> bool:
        response: env_pb2.CloseResponse = env.Close(
            env_pb2.CloseRequest(session_id=session_id), timeout=TIMEOUT
        )
        return response.closed

    def assert_still_serves(self, env: env_pb2_grpc.EnvServiceStub, channel: grpc.Channel) -> None:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        session = self.reset(env)
        assert self.step(env, session.session_id, "look").step_index == 1
        assert self.close(env, session.session_id)

    # -- ListGames -------------------------------------------------------------------------------

    def test_list_games_pages_through_a_split(self, env: env_pb2_grpc.EnvServiceStub) -> None:
        seen: list[trajectory_pb2.Game] = []
        token = ""
        while True:
            page = env.ListGames(
                env_pb2.ListGamesRequest(split="generated_eval", page_size=2, page_token=token),
                timeout=TIMEOUT,
            )
            assert len(page.games) <= 2
            seen.extend(page.games)
            token = page.next_page_token
            if not token:
                break
        ids = [game.game_id for game in seen]
        assert len(ids) == len(set(ids)) == page.total_size > 0
        assert ids == sorted(ids)
        for game in seen:
            assert game.split == "generated_eval" and game.game_id.startswith("generated_eval/")
            assert game.task and game.task_type and game.source == trajectory_pb2.GENERATED

    def test_list_games_filters_by_task_type(self, env: env_pb2_grpc.EnvServiceStub) -> None:
        page = env.ListGames(
            env_pb2.ListGamesRequest(split="generated_eval", task_type=TASK_TYPE, page_size=1000),
            timeout=TIMEOUT,
        )
        assert page.games and {game.task_type for game in page.games} == {TASK_TYPE}

    @pytest.mark.parametrize(
        ("request_fields", "named"),
        [
            ({"page_token": "not-a-token"}, "not-a-token"),
            ({"page_size": -1}, "page_size"),
            ({"split": "valid_unseen_typo"}, "valid_unseen_typo"),
            ({"task_type": "juggle_three_apples"}, "juggle_three_apples"),
        ],
    )
    def test_list_games_refuses_bad_input(
        self, env: env_pb2_grpc.EnvServiceStub, request_fields: dict[str, Any], named: str
    ) -> None:
        error = rpc_error(env.ListGames, env_pb2.ListGamesRequest(**request_fields))
        assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, named)

    # -- Reset -----------------------------------------------------------------------------------

    def test_reset_by_id_and_by_position_name_the_same_game(self, env: env_pb2_grpc.EnvServiceStub) -> None:
        listed = env.ListGames(
            env_pb2.ListGamesRequest(split="generated_eval", task_type=TASK_TYPE, page_size=2),
            timeout=TIMEOUT,
        ).games[1]
        by_position = self.reset(env, split="generated_eval", index=1)
        by_id = self.reset(env, game_id=listed.game_id, task_type="")
        assert by_position.game == by_id.game == listed
        assert by_position.session_id != by_id.session_id
        assert by_id.observation.startswith("-= Welcome to TextWorld, ALFRED! =-")
        assert listed.task in by_id.observation
        assert "look" in by_id.admissible_commands
        assert not by_id.expert_plan  # only when asked for
        assert by_id.versions.alfworld and by_id.versions.textworld and by_id.versions.alfagent
        for session in (by_position, by_id):
            assert self.close(env, session.session_id)

    def test_reset_defaults_to_the_first_generated_eval_game(self, env: env_pb2_grpc.EnvServiceStub) -> None:
        first = env.ListGames(env_pb2.ListGamesRequest(split="generated_eval", page_size=1), timeout=TIMEOUT)
        session = env.Reset(env_pb2.ResetRequest(), timeout=TIMEOUT)
        assert session.game == first.games[0]
        self.close(env, session.session_id)

    def test_unknown_game_id_is_not_found_naming_it(
        self, env: env_pb2_grpc.EnvServiceStub, channel: grpc.Channel
    ) -> None:
        for game_id in ("generated_eval/no-such-game/trial_T0", "no-such-split/no-such-game/trial_T0"):
            error = rpc_error(env.Reset, env_pb2.ResetRequest(game_id=game_id))
            assert_status(error, grpc.StatusCode.NOT_FOUND, "no-such-game")
        self.assert_still_serves(env, channel)

    @pytest.mark.parametrize(
        ("request_fields", "named"),
        [
            ({"task_type": "juggle_three_apples"}, "juggle_three_apples"),
            ({"split": "valid_unseen_typo"}, "valid_unseen_typo"),
            ({"task_type": TASK_TYPE, "index": 100000}, "100000"),
            ({"max_steps": -1}, "max_steps"),
        ],
    )
    def test_reset_refuses_a_selection_that_names_nothing(
        self, env: env_pb2_grpc.EnvServiceStub, request_fields: dict[str, Any], named: str
    ) -> None:
        error = rpc_error(env.Reset, env_pb2.ResetRequest(**request_fields))
        assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, named)

    # -- Step ------------------------------------------------------------------------------------

    def test_the_expert_plan_wins_and_a_step_after_the_win_is_a_failed_precondition(
        self, env: env_pb2_grpc.EnvServiceStub
    ) -> None:
        session = self.reset(env, with_expert_plan=True)
        plan = list(session.expert_plan)
        assert plan, "the expert plan comes with the reset"
        for index, action in enumerate(plan, start=1):
            step = self.step(env, session.session_id, action)
            assert step.step_index == index and step.admissible
            assert list(step.expert_plan) == plan[index:]
        assert step.won and step.done and step.reward == 1.0 and step.goal_progress == 1.0
        error = rpc_error(env.Step, env_pb2.StepRequest(session_id=session.session_id, action="look"))
        assert_status(error, grpc.StatusCode.FAILED_PRECONDITION, session.session_id)
        assert self.close(env, session.session_id)

    def test_the_step_cap_ends_the_episode_without_a_win(self, env: env_pb2_grpc.EnvServiceStub) -> None:
        session = self.reset(env, max_steps=2)
        first = self.step(env, session.session_id, "look")
        second = self.step(env, session.session_id, "look")
        assert not first.done and second.done and not second.won and second.reward == 0.0
        error = rpc_error(env.Step, env_pb2.StepRequest(session_id=session.session_id, action="look"))
        assert_status(error, grpc.StatusCode.FAILED_PRECONDITION)
        self.close(env, session.session_id)

    def test_an_inadmissible_action_is_a_normal_step(self, env: env_pb2_grpc.EnvServiceStub) -> None:
        session = self.reset(env)
        step = self.step(env, session.session_id, "fly to the moon")
        assert step.observation == "Nothing happens."
        assert not step.admissible and not step.done and not step.won and step.step_index == 1
        assert list(step.admissible_commands) == list(session.admissible_commands)
        self.close(env, session.session_id)

    @pytest.mark.parametrize(
        ("action", "named"), [("", "empty"), ("x" * 100_000, "100000"), ("go to\x00 desk 1", "control")]
    )
    def test_bad_actions_are_invalid_and_leave_the_session_untouched(
        self, env: env_pb2_grpc.EnvServiceStub, action: str, named: str
    ) -> None:
        session = self.reset(env)
        error = rpc_error(env.Step, env_pb2.StepRequest(session_id=session.session_id, action=action))
        assert_status(error, grpc.StatusCode.INVALID_ARGUMENT, named)
        assert self.step(env, session.session_id, "look").step_index == 1
        self.close(env, session.session_id)

    def test_an_unknown_session_is_not_found_naming_it(
        self, env: env_pb2_grpc.EnvServiceStub, channel: grpc.Channel
    ) -> None:
        error = rpc_error(env.Step, env_pb2.StepRequest(session_id="0123456789abcdef", action="look"))
        assert_status(error, grpc.StatusCode.NOT_FOUND, "0123456789abcdef")
        self.assert_still_serves(env, channel)

    @pytest.mark.parametrize("session_id", ["", "../../etc/passwd", "a" * 65])
    def test_a_malformed_session_id_is_invalid(
        self, env: env_pb2_grpc.EnvServiceStub, session_id: str
    ) -> None:
        for call, request in (
            (env.Step, env_pb2.StepRequest(session_id=session_id, action="look")),
            (env.Close, env_pb2.CloseRequest(session_id=session_id)),
        ):
            assert_status(rpc_error(call, request), grpc.StatusCode.INVALID_ARGUMENT, "session_id")

    # -- Close -----------------------------------------------------------------------------------

    def test_close_is_idempotent_and_ends_the_session(self, env: env_pb2_grpc.EnvServiceStub) -> None:
        session = self.reset(env)
        assert self.close(env, session.session_id) is True
        assert self.close(env, session.session_id) is False
        assert self.close(env, "0123456789abcdef") is False
        error = rpc_error(env.Step, env_pb2.StepRequest(session_id=session.session_id, action="look"))
        assert_status(error, grpc.StatusCode.NOT_FOUND, session.session_id)

    # -- GetStats --------------------------------------------------------------------------------

    def test_stats_count_sessions_and_name_the_workers(self, env: env_pb2_grpc.EnvServiceStub) -> None:
        before = env.GetStats(env_pb2.GetStatsRequest(), timeout=TIMEOUT)
        session = self.reset(env)
        during = env.GetStats(env_pb2.GetStatsRequest(), timeout=TIMEOUT)
        self.close(env, session.session_id)
        after = env.GetStats(env_pb2.GetStatsRequest(), timeout=TIMEOUT)
        assert during.live_sessions == before.live_sessions + 1 == after.live_sessions + 1
        assert sum(during.worker_sessions) == during.live_sessions
        assert during.workers == len(during.worker_pids) == len(during.worker_sessions) > 0
        assert during.max_sessions > 0 and during.rss_bytes > 0
        assert during.games > 0 and "generated_eval" in during.splits
        assert during.versions.alfworld and during.versions.textworld
