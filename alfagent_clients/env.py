"""A small typed client for EnvService that raises domain errors instead of grpc ones.

async with grpc.aio.insecure_channel(os.environ["ENV_ADDR"], options=CHANNEL_OPTIONS) as channel:
    env = EnvClient(channel)
    reset = await env.reset(env_pb2.ResetRequest(task_type="pick_and_place_simple"))
    step = await env.step(reset.session_id, "look")
"""

from __future__ import annotations

import grpc

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent_clients.base import ServiceClient


class EnvClient(ServiceClient):
    service = "env_service"

    # A reset may translate a big kitchen's PDDL or wait for a busy worker: give it time.
    def __init__(self, channel: grpc.aio.Channel, *, timeout_seconds: float | None = 120.0) -> None:
        super().__init__(timeout_seconds=timeout_seconds)
        self._stub = env_pb2_grpc.EnvServiceStub(channel)

    async def reset(self, request: env_pb2.ResetRequest) -> env_pb2.ResetResponse:
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

    async def stats(self) -> env_pb2.EnvStats:
        return await self._call(self._stub.GetStats, env_pb2.GetStatsRequest())
