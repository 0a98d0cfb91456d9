"""The agent's gateways to env and store ride out a service that restarts."""

from __future__ import annotations

import asyncio

import pytest

from agent_service import gateways
from agent_service.episode import EpisodeRequest, PolicyKind
from agent_service.gateways import RemoteEnv
from alfagent.env.v1 import env_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import errors


class RestartingEnvClient:
    """Refuses `down_for` resets as an env that is restarting does, then answers."""

    def __init__(self, down_for: int, error: type[errors.AlfagentError] = errors.Unavailable) -> None:
        self.calls = 0
        self.down_for = down_for
        self.error = error

    async def reset(self, request: env_pb2.ResetRequest) -> env_pb2.ResetResponse:
        self.calls += 1
        if self.calls <= self.down_for:
            raise self.error("env_service: UNAVAILABLE: connection refused")
        game = trajectory_pb2.Game(game_id="generated_eval/g/trial_T0", split="generated_eval")
        return env_pb2.ResetResponse(session_id="s1", game=game, observation="You are in a room.")


def reset(client: RestartingEnvClient) -> str:
    env = RemoteEnv(client)  # type: ignore[arg-type]  # a fake with the one method used here
    request = EpisodeRequest(policy=PolicyKind.EXPERT)
    return asyncio.run(env.reset(request, with_expert_plan=False)).session_id


def test_a_reset_waits_for_a_restarting_env() -> None:
    client = RestartingEnvClient(down_for=3)
    assert reset(client) == "s1" and client.calls == 4


def test_a_reset_gives_up_once_the_env_stays_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateways, "ENV_RESET_RETRY_SECONDS", 0.5)
    client = RestartingEnvClient(down_for=10_000)
    with pytest.raises(errors.Unavailable):
        reset(client)
    assert 1 < client.calls < 50


def test_other_reset_errors_are_not_retried() -> None:
    client = RestartingEnvClient(down_for=1, error=errors.NotFound)
    with pytest.raises(errors.NotFound):
        reset(client)
    assert client.calls == 1
