"""EnvService through the agent's port, over every env replica.

Like `forwarding.py`, requests and answers pass through as bytes with the caller's deadline and
metadata, and a replica's status code and message come back unchanged. What differs is where a
call goes, since a session lives in one replica:

- `Reset` is placed like the agent's own sessions (least loaded serving replica; the next one on
  RESOURCE_EXHAUSTED or UNAVAILABLE), and the new session is pinned to the replica that answered.
- `Step` and `Close` go to the session's replica. A session the agent did not place (reset on a
  replica directly, or before the agent restarted) is looked for on every serving replica.
- `ListGames` goes to any serving replica (they serve the same games).
- `GetStats` asks every serving replica and answers their sum: sessions, workers, memory, limits
  and restarts added up, worker pids and per-worker sessions listed replica after replica, games
  and versions as the first replica reports them. One replica alone answers as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from agent_service.env_replicas import EnvReplicas
from agent_service.forwarding import _metadata
from agent_service.replicas import Verdict
from alfagent.env.v1 import env_pb2
from alfagent_common import errors
from alfagent_common.grpc_errors import Context, Handler, translate_unary

SERVICE = env_pb2.DESCRIPTOR.services_by_name["EnvService"]

_VERDICTS: dict[grpc.StatusCode, Verdict] = {
    grpc.StatusCode.RESOURCE_EXHAUSTED: "full",
    grpc.StatusCode.UNAVAILABLE: "down",
    grpc.StatusCode.NOT_FOUND: "missing",
}


def grpc_verdict(error: Exception) -> Verdict:
    if isinstance(error, grpc.aio.AioRpcError):
        return _VERDICTS.get(error.code())
    return None


def _session_id(message: type[env_pb2.StepRequest] | type[env_pb2.CloseRequest], request: bytes) -> str:
    try:
        return message.FromString(request).session_id
    except DecodeError:
        raise errors.InvalidRequest(f"not a {message.DESCRIPTOR.name}") from None


def sum_stats(answers: list[env_pb2.EnvStats]) -> env_pb2.EnvStats:
    total = env_pb2.EnvStats()
    total.CopyFrom(answers[0])
    for stats in answers[1:]:
        total.live_sessions += stats.live_sessions
        total.workers += stats.workers
        total.rss_bytes += stats.rss_bytes
        total.max_sessions += stats.max_sessions
        total.worker_restarts += stats.worker_restarts
        total.worker_pids.extend(stats.worker_pids)
        total.worker_sessions.extend(stats.worker_sessions)
    return total


class EnvForwardingHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]  # generic in grpc-stubs, not at runtime
    def __init__(self, replicas: EnvReplicas) -> None:
        self._replicas = replicas
        behaviours: dict[str, Callable[..., Any]] = {
            "Reset": self._reset,
            "Step": self._step,
            "Close": self._close,
            "ListGames": self._list_games,
            "GetStats": self._get_stats,
        }
        self._handlers: dict[str, Handler] = {}
        for method in SERVICE.methods:
            path = f"/{SERVICE.full_name}/{method.name}"
            # Any replica's error aborts the call with the replica's own code and message;
            # domain errors of the agent's own (a request it cannot read) map as elsewhere.
            handler = translate_unary(_aborting(behaviours[method.name]), path)
            self._handlers[path] = grpc.unary_unary_rpc_method_handler(handler)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        return self._handlers.get(handler_call_details.method)

    def _call(self, method: str, request: bytes, context: Context) -> Callable[[str], Awaitable[bytes]]:
        path = f"/{SERVICE.full_name}/{method}"

        async def call(address: str) -> bytes:
            forward = self._replicas.channel(address).unary_unary(path, None, None)
            answer: bytes = await forward(
                request, timeout=context.time_remaining(), metadata=_metadata(context)
            )
            return answer

        return call

    async def _reset(self, request: bytes, context: Context) -> bytes:
        _, answer = await self._replicas.replicas.place(
            self._call("Reset", request, context),
            session_of=lambda answer: env_pb2.ResetResponse.FromString(answer).session_id,
            verdict=grpc_verdict,
        )
        return answer

    async def _step(self, request: bytes, context: Context) -> bytes:
        session_id = _session_id(env_pb2.StepRequest, request)
        answer: bytes = await self._replicas.replicas.call_pinned(
            session_id, self._call("Step", request, context), grpc_verdict
        )
        return answer

    async def _close(self, request: bytes, context: Context) -> bytes:
        session_id = _session_id(env_pb2.CloseRequest, request)
        answer: bytes = await self._replicas.replicas.close_pinned(
            session_id,
            self._call("Close", request, context),
            closed_of=lambda answer: env_pb2.CloseResponse.FromString(answer).closed,
            verdict=grpc_verdict,
        )
        return answer

    async def _list_games(self, request: bytes, context: Context) -> bytes:
        return await self._any("ListGames", request, context)

    async def _get_stats(self, request: bytes, context: Context) -> bytes:
        serving = self._replicas.replicas.serving()
        if len(serving) <= 1:
            return await self._any("GetStats", request, context)
        call = self._call("GetStats", request, context)
        answers = await asyncio.gather(*(call(a) for a in serving), return_exceptions=True)
        stats = [env_pb2.EnvStats.FromString(a) for a in answers if isinstance(a, bytes)]
        if not stats:
            raise next(a for a in answers if isinstance(a, BaseException))
        return sum_stats(stats).SerializeToString()

    async def _any(self, method: str, request: bytes, context: Context) -> bytes:
        answer: bytes = await self._replicas.replicas.call_any(
            self._call(method, request, context), grpc_verdict
        )
        return answer


def _aborting(behaviour: Callable[..., Any]) -> Callable[..., Any]:
    async def call(request: bytes, context: Context) -> bytes:
        try:
            answer: bytes = await behaviour(request, context)
        except grpc.aio.AioRpcError as error:
            await context.abort(error.code(), error.details() or "")
        return answer

    return call
