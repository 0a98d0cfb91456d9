"""Bad input to the agent gets a clear status naming the bad value.

The env service's statuses, every one pinned, are its contract suite: tests/env/contract.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from tests.conftest import Services


def rpc_error(call: Callable[..., Any], request: Message) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=60)
    return caught.value


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
