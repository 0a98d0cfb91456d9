"""Domain errors to gRPC status codes, for every service's handlers.

Handlers stay free of try/except boilerplate: they let `AlfagentError`s propagate and the wrapper
that `with_domain_errors` puts around each of them aborts the call with the matching code.
Anything unexpected becomes INTERNAL with a generic message; the traceback goes to the log, never
to the client. The wrappers are made once, when a servicer is registered: a server interceptor
did the same on every call and cost the store about 7% of a no-op call's CPU (bench/RESULTS.md).
"""

from __future__ import annotations

import logging
import types
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeAlias, TypeVar, cast

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from alfagent_common import errors

log = logging.getLogger(__name__)

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

STATUS_BY_ERROR: dict[type[errors.AlfagentError], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
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


Servicer = TypeVar("Servicer")


def with_domain_errors(servicer: Servicer, service: ServiceDescriptor) -> Servicer:
    """What to register instead of `servicer`: the same RPC methods, each wrapped once.

    add_StoreServiceServicer_to_server(with_domain_errors(servicer, SERVICE), server)
    """
    wrapped = types.SimpleNamespace()
    for method in service.methods:
        path = f"/{service.full_name}/{method.name}"
        wrap = translate_stream if method.server_streaming else translate_unary
        setattr(wrapped, method.name, wrap(getattr(servicer, method.name), path))
    return cast(Servicer, wrapped)


def translate_unary(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    async def wrapped(request: Any, context: Context) -> Any:
        try:
            return await behaviour(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort_for(error, context, method)

    return wrapped


def translate_stream(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort_for(error, context, method)

    return wrapped
