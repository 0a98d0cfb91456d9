"""One server interceptor that maps domain errors to gRPC status codes.

Handlers stay free of try/except boilerplate: they let `AlfagentError`s propagate and this
interceptor aborts the call with the matching code. Anything unexpected becomes INTERNAL with
a generic message; the traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from alfagent_common import errors

log = logging.getLogger(__name__)

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

STATUS_BY_ERROR: dict[type[errors.AlfagentError], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.Cancelled: grpc.StatusCode.CANCELLED,
}


def status_for(error: errors.AlfagentError) -> grpc.StatusCode:
    for error_type in type(error).__mro__:
        if error_type in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[error_type]
    return grpc.StatusCode.UNKNOWN


async def _abort_for(error: Exception, context: Context, method: str) -> None:
    if isinstance(error, errors.AlfagentError):
        await context.abort(status_for(error), str(error))
    log.exception("unexpected error in %s", method, exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see the service log")


class DomainErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self) -> None:
        # Wrapped handlers per method: building them on every call is measurable per-RPC cost,
        # and a server's handler for a method never changes once it serves.
        self._wrapped: dict[str, Handler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return handler
            wrapped = self._wrapped[method] = self._wrap(handler, method)
        return wrapped

    @staticmethod
    def _wrap(handler: Handler, method: str) -> Handler:
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _wrap_unary(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    async def wrapped(request: Any, context: Context) -> Any:
        try:
            return await behaviour(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort_for(error, context, method)

    return wrapped


def _wrap_stream(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort_for(error, context, method)

    return wrapped
