"""The env replicas over gRPC: ENV_ADDR resolved, a channel per replica, health and load checks.

`EnvReplicas` keeps `agent_service.replicas.Replicas` (placement and pinning, no grpc) in step with
the world: every `REFRESH_SECONDS` it resolves ENV_ADDR again (a `dns:///` name gains and loses
addresses as compose or Kubernetes scale the env), asks each listed replica's standard health
service and `GetStats`, and closes the channels of replicas that are gone and hold no session.
`ReplicatedEnvClient` is the agent's env client over all of them: the same calls as `EnvClient`,
each session's calls sent to the replica that reset it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Protocol

import grpc

from agent_service.replicas import EnvTarget, Replicas, Verdict
from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent_clients.env import EnvClient
from alfagent_common import errors
from alfagent_common.dependencies import is_serving
from alfagent_common.server import CHANNEL_OPTIONS

log = logging.getLogger(__name__)

# How often ENV_ADDR is resolved again and every replica's health and load asked.
REFRESH_SECONDS = 2.0
CHECK_TIMEOUT_SECONDS = 2.0
# Pins unused this long are dropped (the env expires idle sessions after 600 s by default); a
# session still alive past that is found again by asking every replica.
FORGET_PIN_SECONDS = 3600.0


def _address(sockaddr: tuple[object, ...], port: int) -> str:
    host = str(sockaddr[0])
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


Connect = Callable[[str], grpc.aio.Channel]


def _plain_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


class EnvReplicas:
    def __init__(
        self, target: EnvTarget, *, refresh_seconds: float = REFRESH_SECONDS, connect: Connect | None = None
    ) -> None:
        self.target = target
        # How a channel to a replica is made (TLS and the agent's token: alfagent_common/auth.py).
        self._connect = connect or _plain_channel
        self.replicas = Replicas()
        self._refresh_seconds = refresh_seconds
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._task: asyncio.Task[None] | None = None

    async def resolve(self) -> list[str]:
        """The replicas ENV_ADDR names now: the fixed list, or every address of the DNS name."""
        if not self.target.is_dns:
            return list(self.target.addresses)
        infos = await asyncio.get_running_loop().getaddrinfo(
            self.target.dns_name, self.target.dns_port, type=socket.SOCK_STREAM
        )
        return sorted({_address(info[4], self.target.dns_port) for info in infos})

    def channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._connect(address)
            self._channels[address] = channel
        return channel

    async def refresh(self) -> None:
        try:
            addresses = await self.resolve()
        except OSError as error:
            # A name that does not resolve for a moment (a DNS hiccup, every env container being
            # replaced) must not drop replicas that still hold sessions: keep the last answer.
            log.warning(
                "env replicas not resolved", extra={"target": self.target.dns_name, "error": str(error)}
            )
            addresses = []
        if addresses:
            added, gone = self.replicas.update(addresses)
            if added or gone:
                log.info("env replicas changed", extra={"added": added, "gone": gone})
        for address in self.replicas.unused():
            channel = self._channels.pop(address, None)
            if channel is not None:
                await channel.close(grace=None)
        listed = [a for a in self.replicas.known() if (r := self.replicas.get(a)) is not None and r.listed]
        await asyncio.gather(*(self._check(address) for address in listed))
        self.replicas.forget_idle(FORGET_PIN_SECONDS)

    async def _check(self, address: str) -> None:
        channel = self.channel(address)
        serving = await is_serving(channel, CHECK_TIMEOUT_SECONDS)
        stats: env_pb2.EnvStats | None = None
        if serving:
            try:
                stats = await env_pb2_grpc.EnvServiceStub(channel).GetStats(
                    env_pb2.GetStatsRequest(), timeout=CHECK_TIMEOUT_SECONDS
                )
            except grpc.aio.AioRpcError:
                stats = None
        replica = self.replicas.get(address)
        if replica is not None and replica.serving != serving:
            log.warning("env replica", extra={"address": address, "serving": serving})
        if stats is None:
            self.replicas.report(address, serving=serving)
        else:
            self.replicas.report(
                address,
                serving=serving,
                live_sessions=stats.live_sessions,
                workers=stats.workers,
                max_sessions=stats.max_sessions,
            )

    async def wait_ready(self) -> None:
        """Until at least one replica serves (start-up)."""
        while True:
            await self.refresh()
            if self.replicas.any_serving():
                return
            await asyncio.sleep(min(self._refresh_seconds, 0.5))

    async def is_serving(self) -> bool:
        """The agent's env dependency is up while at least one replica serves."""
        return self.replicas.any_serving()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.refresh()
            except Exception:
                # A bug here must not stop the checks for good; the next round tries again.
                log.exception("refreshing the env replicas failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for channel in self._channels.values():
            await channel.close(grace=None)
        self._channels.clear()


def domain_verdict(error: Exception) -> Verdict:
    """How the env clients' domain errors read for placement and pinning."""
    if isinstance(error, errors.ResourceExhausted):
        return "full"
    if isinstance(error, errors.Unavailable):
        return "down"
    if isinstance(error, errors.NotFound):
        return "missing"
    return None


class EnvApi(Protocol):
    """What the agent's episode loop calls on the env (EnvClient and ReplicatedEnvClient)."""

    async def reset(self, request: env_pb2.ResetRequest) -> env_pb2.ResetResponse: ...

    async def step(self, session_id: str, action: str) -> env_pb2.StepResponse: ...

    async def close(self, session_id: str) -> bool: ...

    async def list_games(
        self, *, split: str = "", task_type: str = "", page_size: int = 0, page_token: str = ""
    ) -> env_pb2.ListGamesResponse: ...


class ReplicatedEnvClient:
    """EnvClient's calls over every replica: Reset placed, Step and Close pinned."""

    def __init__(self, replicas: EnvReplicas) -> None:
        self._replicas = replicas
        self._clients: dict[str, tuple[grpc.aio.Channel, EnvClient]] = {}

    def _client(self, address: str) -> EnvClient:
        # A replica that left and came back has a new channel (the old one was closed).
        channel = self._replicas.channel(address)
        cached = self._clients.get(address)
        if cached is None or cached[0] is not channel:
            cached = (channel, EnvClient(channel))
            self._clients[address] = cached
        return cached[1]

    async def reset(self, request: env_pb2.ResetRequest) -> env_pb2.ResetResponse:
        async def reset(address: str) -> env_pb2.ResetResponse:
            return await self._client(address).reset(request)

        _, response = await self._replicas.replicas.place(
            reset, session_of=lambda r: r.session_id, verdict=domain_verdict
        )
        return response

    async def step(self, session_id: str, action: str) -> env_pb2.StepResponse:
        return await self._replicas.replicas.call_pinned(
            session_id, lambda a: self._client(a).step(session_id, action), domain_verdict
        )

    async def close(self, session_id: str) -> bool:
        return await self._replicas.replicas.close_pinned(
            session_id,
            lambda a: self._client(a).close(session_id),
            closed_of=lambda closed: closed,
            verdict=domain_verdict,
        )

    async def list_games(
        self, *, split: str = "", task_type: str = "", page_size: int = 0, page_token: str = ""
    ) -> env_pb2.ListGamesResponse:
        # Every replica serves the same games (one image, one ALFWORLD_DATA): any may answer.
        return await self._replicas.replicas.call_any(
            lambda a: self._client(a).list_games(
                split=split, task_type=task_type, page_size=page_size, page_token=page_token
            ),
            domain_verdict,
        )
