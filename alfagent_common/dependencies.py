"""Readiness that follows the services this one depends on.

The agent can run an episode only while env and store both serve. `watch_dependencies` asks each
one's standard health service every few seconds over the channel the agent already holds (or
runs a check of its own, e.g. "at least one env replica serves"), and reports a change (all
SERVING, or not) to the agent's own health service: a container orchestrator then sees the agent
unhealthy while a dependency is down, and healthy again once it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

log = logging.getLogger(__name__)


async def is_serving(channel: grpc.aio.Channel, timeout_seconds: float) -> bool:
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout_seconds)
    except grpc.aio.AioRpcError:
        return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


Check = Callable[[], Awaitable[bool]]


async def watch_dependencies(
    channels: Mapping[str, grpc.aio.Channel | Check],
    report: Callable[[bool], Awaitable[None]],
    *,
    interval_seconds: float = 2.0,
    timeout_seconds: float = 2.0,
) -> None:
    """Forever: check every dependency, report a change of "all of them serve"; cancel to stop."""
    serving = True  # as the service reported itself at start-up
    while True:
        await asyncio.sleep(interval_seconds)
        names = list(channels)
        states = await asyncio.gather(*(_serving(channels[name], timeout_seconds) for name in names))
        now_serving = all(states)
        if now_serving != serving:
            down = [name for name, state in zip(names, states, strict=True) if not state]
            log.warning("dependencies", extra={"serving": now_serving, "down": down})
            await report(now_serving)
            serving = now_serving


async def _serving(dependency: grpc.aio.Channel | Check, timeout_seconds: float) -> bool:
    if isinstance(dependency, grpc.aio.Channel):
        return await is_serving(dependency, timeout_seconds)
    return await dependency()
