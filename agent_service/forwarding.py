"""EnvService and StoreService reachable through the agent's port too.

Users often expose or remember one address. The agent therefore forwards every EnvService and
StoreService method that does not write to the real service, as opaque bytes (nothing is decoded
or re-encoded), with the caller's deadline and metadata, and passes the answer's status code and
message back unchanged. The store's writes (`identity.writes`) are refused here with
PERMISSION_DENIED: only the agent itself appends trajectories, so a caller of the agent cannot
store a forged result under anyone's run id. The caller's own `authorization` is not passed on:
the agent calls as itself (its ALFAGENT_TOKEN), after its own port admitted the caller.
Reflection on the agent lists all three services, so `grpcurl <agent> list` shows the
whole system.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from alfagent_common.grpc_errors import Context, Handler, translate_stream, translate_unary
from alfagent_common.identity import writes

# Hop-by-hop or per-connection headers that must not be copied onto the forwarded call.
_NOT_FORWARDED = {"user-agent", "grpc-accept-encoding", "grpc-timeout", ":authority", "authorization"}
WRITES_REFUSED = (
    "the agent's port forwards reads only; trajectories and skill libraries are stored by the agent "
    "itself (a caller with the store's write role may call the store directly)"
)


def _metadata(context: Context) -> tuple[tuple[str, Any], ...]:
    return tuple((k, v) for k, v in context.invocation_metadata() or () if k not in _NOT_FORWARDED)


async def _refuse_write(request: bytes, context: Context) -> bytes:
    await context.abort(grpc.StatusCode.PERMISSION_DENIED, WRITES_REFUSED)
    raise AssertionError("abort raises")  # pragma: no cover


class ForwardingHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]  # generic in grpc-stubs, not at runtime
    def __init__(self, service: ServiceDescriptor, channel: grpc.aio.Channel) -> None:
        self._channel = channel
        # Built once per method; anything unexpected in a forwarder becomes INTERNAL, as elsewhere.
        self._handlers: dict[str, Handler] = {}
        for method in service.methods:
            path = f"/{service.full_name}/{method.name}"
            if writes(path):
                self._handlers[path] = grpc.unary_unary_rpc_method_handler(_refuse_write)
            elif method.server_streaming:
                forward = translate_stream(self._forward_stream(path), path)
                self._handlers[path] = grpc.unary_stream_rpc_method_handler(forward)
            else:
                forward = translate_unary(self._forward_unary(path), path)
                self._handlers[path] = grpc.unary_unary_rpc_method_handler(forward)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        return self._handlers.get(handler_call_details.method)

    def _forward_unary(self, path: str) -> Any:
        # No serializers: requests and answers pass through as bytes.
        method = self._channel.unary_unary(path, None, None)

        async def forward(request: bytes, context: Context) -> bytes:
            try:
                response: bytes = await method(
                    request, timeout=context.time_remaining(), metadata=_metadata(context)
                )
            except grpc.aio.AioRpcError as error:
                await context.abort(error.code(), error.details() or "")
            return response

        return forward

    def _forward_stream(self, path: str) -> Any:
        method = self._channel.unary_stream(path, None, None)

        async def forward(request: bytes, context: Context) -> AsyncIterator[bytes]:
            try:
                async for response in method(
                    request, timeout=context.time_remaining(), metadata=_metadata(context)
                ):
                    yield response
            except grpc.aio.AioRpcError as error:
                await context.abort(error.code(), error.details() or "")

        return forward
