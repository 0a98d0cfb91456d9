"""alfagent_clients: what a caller sees when a service answers with an error status.

The servers turn domain errors into status codes with `alfagent_common.grpc_errors`; the clients
must turn every one of those codes back into the same domain error, whichever service answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import pytest

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_clients.env import EnvClient
from alfagent_clients.errors import RemoteError
from alfagent_clients.store import StoreClient
from alfagent_common import errors
from alfagent_common.grpc_errors import STATUS_BY_ERROR, with_domain_errors
from tests.grpc_harness import serve_and_call

T = TypeVar("T")
ERRORS_BY_NAME = {error.__name__: error for error in STATUS_BY_ERROR}


def _raise_named(name: str) -> None:
    if name in ERRORS_BY_NAME:
        raise ERRORS_BY_NAME[name](f"raised {name}")
    if name == "bug":
        raise RuntimeError("an unexpected failure")


class Store(store_pb2_grpc.StoreServiceServicer):
    async def GetTrajectory(self, request: Any, context: Any) -> trajectory_pb2.Trajectory:
        if request.trajectory_id == "slow":
            await asyncio.sleep(5)
        _raise_named(request.trajectory_id)
        return trajectory_pb2.Trajectory(trajectory_id=request.trajectory_id)


class Env(env_pb2_grpc.EnvServiceServicer):
    async def Reset(self, request: Any, context: Any) -> env_pb2.ResetResponse:
        _raise_named(request.game_id)
        return env_pb2.ResetResponse(session_id="s1")


def serve(body: Callable[[grpc.aio.Channel], Awaitable[T]]) -> T:
    def register(server: grpc.aio.Server) -> None:
        # Each implements only the method under test; the others are never called, but the generated
        # stubs declare them all abstract: hence the ignores.
        store = with_domain_errors(Store(), store_pb2.DESCRIPTOR.services_by_name["StoreService"])  # type: ignore[abstract]  # see above
        env = with_domain_errors(Env(), env_pb2.DESCRIPTOR.services_by_name["EnvService"])  # type: ignore[abstract]  # see above
        store_pb2_grpc.add_StoreServiceServicer_to_server(store, server)
        env_pb2_grpc.add_EnvServiceServicer_to_server(env, server)

    return asyncio.run(serve_and_call(register, body))


def store_get(trajectory_id: str, timeout_seconds: float | None = 30.0) -> BaseException | str:
    async def body(channel: grpc.aio.Channel) -> BaseException | str:
        try:
            trajectory = await StoreClient(channel, timeout_seconds=timeout_seconds).get(trajectory_id)
        except errors.AlfagentError as error:
            return error
        return trajectory.trajectory_id

    return serve(body)


def env_reset(game_id: str) -> BaseException | str:
    async def body(channel: grpc.aio.Channel) -> BaseException | str:
        try:
            return (await EnvClient(channel).reset(env_pb2.ResetRequest(game_id=game_id))).session_id
        except errors.AlfagentError as error:
            return error

    return serve(body)


@pytest.mark.parametrize("error", list(STATUS_BY_ERROR), ids=lambda error: error.__name__)
def test_every_domain_error_comes_back_as_itself_from_either_client(
    error: type[errors.AlfagentError],
) -> None:
    for call, service in ((store_get, "store_service"), (env_reset, "env_service")):
        raised = call(error.__name__)
        assert type(raised) is error, (service, raised)
        code = STATUS_BY_ERROR[error].name
        assert str(raised) == f"{service}: {code}: raised {error.__name__}"


def test_a_status_without_domain_meaning_is_a_remote_error() -> None:
    raised = store_get("bug")
    assert type(raised) is RemoteError and isinstance(raised, errors.AlfagentError)
    assert str(raised).startswith("store_service: INTERNAL: internal error in")


def test_the_clients_own_deadline_reads_as_unavailable() -> None:
    raised = store_get("slow", timeout_seconds=0.2)
    assert type(raised) is errors.Unavailable
    assert "DEADLINE_EXCEEDED" in str(raised)


def test_answers_pass_through() -> None:
    assert store_get("t-1") == "t-1"
    assert env_reset("g") == "s1"
