"""Bad input gets a clear status naming the bad value, and the service keeps serving."""

from __future__ import annotations

import grpc
import pytest

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from tests.conftest import Services


def rpc_error(call, request) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=60)
    return caught.value


@pytest.fixture
def env(env_channel: grpc.Channel) -> env_pb2_grpc.EnvServiceStub:
    return env_pb2_grpc.EnvServiceStub(env_channel)


def assert_env_still_serves(env: env_pb2_grpc.EnvServiceStub) -> None:
    reset = env.Reset(env_pb2.ResetRequest(task_type="pick_and_place_simple"), timeout=60)
    step = env.Step(env_pb2.StepRequest(session_id=reset.session_id, action="look"), timeout=60)
    assert step.step_index == 1 and step.observation
    assert env.Close(env_pb2.CloseRequest(session_id=reset.session_id)).closed


def test_unknown_session_is_not_found(env: env_pb2_grpc.EnvServiceStub) -> None:
    error = rpc_error(env.Step, env_pb2.StepRequest(session_id="0123456789abcdef", action="look"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "0123456789abcdef" in (error.details() or "")
    assert_env_still_serves(env)


def test_malformed_session_id_is_invalid(env: env_pb2_grpc.EnvServiceStub) -> None:
    error = rpc_error(env.Step, env_pb2.StepRequest(session_id="../../etc/passwd", action="look"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_unknown_game_id_names_the_game(env: env_pb2_grpc.EnvServiceStub) -> None:
    error = rpc_error(env.Reset, env_pb2.ResetRequest(game_id="generated_eval/no-such-game/trial_T0"))
    assert error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
    assert "no-such-game" in (error.details() or "")
    assert_env_still_serves(env)


def test_unknown_task_type_names_it(env: env_pb2_grpc.EnvServiceStub) -> None:
    error = rpc_error(env.Reset, env_pb2.ResetRequest(task_type="juggle_three_apples"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "juggle_three_apples" in (error.details() or "")


def test_unknown_split_and_index_out_of_range(env: env_pb2_grpc.EnvServiceStub) -> None:
    error = rpc_error(env.Reset, env_pb2.ResetRequest(split="valid_unseen_typo"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "valid_unseen_typo" in (error.details() or "")
    error = rpc_error(env.Reset, env_pb2.ResetRequest(task_type="pick_and_place_simple", index=100000))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "100000" in (error.details() or "")


def test_step_after_the_episode_ended_is_a_failed_precondition(env: env_pb2_grpc.EnvServiceStub) -> None:
    reset = env.Reset(env_pb2.ResetRequest(task_type="pick_and_place_simple", max_steps=2), timeout=60)
    for _ in range(2):
        step = env.Step(env_pb2.StepRequest(session_id=reset.session_id, action="look"), timeout=60)
    assert step.done and not step.won
    error = rpc_error(env.Step, env_pb2.StepRequest(session_id=reset.session_id, action="look"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    env.Close(env_pb2.CloseRequest(session_id=reset.session_id))


def test_step_after_a_win_is_a_failed_precondition(env: env_pb2_grpc.EnvServiceStub) -> None:
    reset = env.Reset(
        env_pb2.ResetRequest(task_type="pick_and_place_simple", with_expert_plan=True), timeout=60
    )
    plan = list(reset.expert_plan)
    assert plan, "the expert plan comes with the reset"
    for action in plan:
        step = env.Step(env_pb2.StepRequest(session_id=reset.session_id, action=action), timeout=60)
    assert step.won and step.done and step.reward == 1.0
    error = rpc_error(env.Step, env_pb2.StepRequest(session_id=reset.session_id, action="look"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    ("action", "expected_in_message"),
    [("", "empty"), ("x" * 100_000, "100000"), ("go to\x00 desk 1", "control")],
)
def test_empty_huge_and_control_character_actions_are_invalid(
    env: env_pb2_grpc.EnvServiceStub, action: str, expected_in_message: str
) -> None:
    reset = env.Reset(env_pb2.ResetRequest(task_type="pick_and_place_simple"), timeout=60)
    error = rpc_error(env.Step, env_pb2.StepRequest(session_id=reset.session_id, action=action))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected_in_message in (error.details() or "")
    # The session is untouched: the next step is its first.
    step = env.Step(env_pb2.StepRequest(session_id=reset.session_id, action="look"), timeout=60)
    assert step.step_index == 1
    env.Close(env_pb2.CloseRequest(session_id=reset.session_id))


def test_inadmissible_action_is_a_normal_step(env: env_pb2_grpc.EnvServiceStub) -> None:
    reset = env.Reset(env_pb2.ResetRequest(task_type="pick_and_place_simple"), timeout=60)
    step = env.Step(env_pb2.StepRequest(session_id=reset.session_id, action="fly to the moon"), timeout=60)
    assert step.observation == "Nothing happens."
    assert not step.admissible and not step.done and step.step_index == 1
    env.Close(env_pb2.CloseRequest(session_id=reset.session_id))


def test_close_is_idempotent(env: env_pb2_grpc.EnvServiceStub) -> None:
    reset = env.Reset(env_pb2.ResetRequest(task_type="pick_and_place_simple"), timeout=60)
    assert env.Close(env_pb2.CloseRequest(session_id=reset.session_id)).closed
    assert not env.Close(env_pb2.CloseRequest(session_id=reset.session_id)).closed
    error = rpc_error(env.Step, env_pb2.StepRequest(session_id=reset.session_id, action="look"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_list_games_pages_through_a_split(env: env_pb2_grpc.EnvServiceStub) -> None:
    seen: list[str] = []
    token = ""
    while True:
        page = env.ListGames(env_pb2.ListGamesRequest(split="generated_eval", page_size=2, page_token=token))
        assert len(page.games) <= 2
        seen.extend(game.game_id for game in page.games)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == page.total_size
    assert {game_id.split("/")[0] for game_id in seen} == {"generated_eval"}
    error = rpc_error(env.ListGames, env_pb2.ListGamesRequest(page_token="not-a-token"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_agent_rejects_a_missing_policy_and_a_bad_task_type(
    services: Services, agent_channel: grpc.Channel
) -> None:
    agent = agent_pb2_grpc.AgentServiceStub(agent_channel)
    error = rpc_error(agent.RunEpisode, agent_pb2.RunEpisodeRequest(task_type="pick_and_place_simple"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "policy" in (error.details() or "")
    error = rpc_error(
        agent.RunEpisode, agent_pb2.RunEpisodeRequest(task_type="no_such_type", policy=trajectory_pb2.EXPERT)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no_such_type" in (error.details() or "")


def test_agent_rejects_a_malformed_run_id_before_playing(agent_channel: grpc.Channel) -> None:
    agent = agent_pb2_grpc.AgentServiceStub(agent_channel)
    request = agent_pb2.RunEpisodeRequest(
        task_type="pick_and_place_simple", policy=trajectory_pb2.EXPERT, run_id="my run"
    )
    error = rpc_error(agent.RunEpisode, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "run_id" in (error.details() or "") and "' '" in (error.details() or "")
