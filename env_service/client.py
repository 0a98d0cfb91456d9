"""A small typed client for EnvService that raises domain errors instead of grpc ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent_common.grpc_client import raise_domain_error

Response = TypeVar("Response")


class EnvClient:
    def __init__(self, channel: grpc.aio.Channel, *, timeout_seconds: float = 120.0) -> None:
        self._stub = env_pb2_grpc.EnvServiceStub(channel)
        self._timeout = timeout_seconds

    async def _call(self, method: Callable[..., Awaitable[Response]], request: object) -> Response:
        try:
            return await method(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise_domain_error(error, "env_service")

    async def reset(
        self,
        *,
        game_id: str = "",
        split: str = "",
        task_type: str = "",
        index: int = 0,
        with_expert_plan: bool = False,
        max_steps: int = 0,
    ) -> env_pb2.ResetResponse:
        request = env_pb2.ResetRequest(
            game_id=game_id,
            split=split,
            task_type=task_type,
            index=index,
            with_expert_plan=with_expert_plan,
            max_steps=max_steps,
        )
        return await self._call(self._stub.Reset, request)

    async def step(self, session_id: str, action: str) -> env_pb2.StepResponse:
        return await self._call(self._stub.Step, env_pb2.StepRequest(session_id=session_id, action=action))

    async def close(self, session_id: str) -> bool:
        response = await self._call(self._stub.Close, env_pb2.CloseRequest(session_id=session_id))
        return response.closed

    async def list_games(
        self, *, split: str = "", task_type: str = "", page_size: int = 0, page_token: str = ""
    ) -> env_pb2.ListGamesResponse:
        request = env_pb2.ListGamesRequest(
            split=split, task_type=task_type, page_size=page_size, page_token=page_token
        )
        return await self._call(self._stub.ListGames, request)
