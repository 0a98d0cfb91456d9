"""alfagent_common.grpc_errors: what a client sees when a handler raises, unary and streaming."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import errors
from alfagent_common.grpc_errors import with_domain_errors
from tests.grpc_harness import serve_and_call

STORE = store_pb2.DESCRIPTOR.services_by_name["StoreService"]
AGENT = agent_pb2.DESCRIPTOR.services_by_name["AgentService"]


class Store(store_pb2_grpc.StoreServiceServicer):
    async def GetTrajectory(self, request: Any, context: Any) -> trajectory_pb2.Trajectory:
        if request.trajectory_id == "missing":
            raise errors.NotFound("no trajectory with trajectory_id 'missing'")
        if request.trajectory_id == "denied":
            raise errors.PermissionDenied("not an endpoint this agent may call")
        if request.trajectory_id == "full":
            raise errors.ResourceExhausted("no space left")
        if request.trajectory_id == "abort":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "aborted by the handler itself")
        if request.trajectory_id == "bug":
            raise RuntimeError("secret internals")
        return trajectory_pb2.Trajectory(trajectory_id=request.trajectory_id)


class Agent(agent_pb2_grpc.AgentServiceServicer):
    async def StreamEpisode(self, request: Any, context: Any) -> AsyncIterator[agent_pb2.EpisodeEvent]:
        yield agent_pb2.EpisodeEvent(started=agent_pb2.EpisodeStarted())
        raise errors.InvalidRequest("max_steps must be positive")


async def calls(body: Any) -> Any:
    def register(server: grpc.aio.Server) -> None:
        # Each implements only the method under test; the others are never called, but the
        # generated stubs declare them all abstract: hence the ignores.
        store = with_domain_errors(Store(), STORE)  # type: ignore[abstract]  # see the comment above
        agent = with_domain_errors(Agent(), AGENT)  # type: ignore[abstract]  # see the comment above
        store_pb2_grpc.add_StoreServiceServicer_to_server(store, server)
        agent_pb2_grpc.add_AgentServiceServicer_to_server(agent, server)

    return await serve_and_call(register, body)


def get(trajectory_id: str) -> tuple[grpc.StatusCode, str]:
    async def body(channel: grpc.aio.Channel) -> tuple[grpc.StatusCode, str]:
        stub = store_pb2_grpc.StoreServiceStub(channel)
        try:
            answer = await stub.GetTrajectory(store_pb2.GetTrajectoryRequest(trajectory_id=trajectory_id))
        except grpc.aio.AioRpcError as error:
            return error.code(), error.details() or ""
        return grpc.StatusCode.OK, answer.trajectory_id

    result: tuple[grpc.StatusCode, str] = asyncio.run(calls(body))
    return result


def test_domain_errors_become_their_status_with_their_message() -> None:
    assert get("t-1") == (grpc.StatusCode.OK, "t-1")
    assert get("missing") == (grpc.StatusCode.NOT_FOUND, "no trajectory with trajectory_id 'missing'")
    assert get("denied") == (grpc.StatusCode.PERMISSION_DENIED, "not an endpoint this agent may call")
    assert get("full") == (grpc.StatusCode.RESOURCE_EXHAUSTED, "no space left")
    assert get("abort") == (grpc.StatusCode.PERMISSION_DENIED, "aborted by the handler itself")


def test_anything_else_is_internal_and_only_the_log_has_the_details(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        code, message = get("bug")
    assert code == grpc.StatusCode.INTERNAL
    assert message == "internal error in /alfagent.store.v1.StoreService/GetTrajectory; see the service log"
    assert "secret" not in message
    assert any(record.exc_info and "secret internals" in str(record.exc_info[1]) for record in caplog.records)


def test_a_stream_keeps_what_it_sent_then_ends_with_the_status() -> None:
    async def body(channel: grpc.aio.Channel) -> tuple[list[str], grpc.StatusCode, str]:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        received: list[str] = []
        try:
            async for event in stub.StreamEpisode(agent_pb2.RunEpisodeRequest()):
                received.append(event.WhichOneof("event") or "")
        except grpc.aio.AioRpcError as error:
            return received, error.code(), error.details() or ""
        return received, grpc.StatusCode.OK, ""

    assert asyncio.run(calls(body)) == (
        ["started"],
        grpc.StatusCode.INVALID_ARGUMENT,
        "max_steps must be positive",
    )
