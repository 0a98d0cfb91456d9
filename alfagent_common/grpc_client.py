"""The client side of the error mapping: a gRPC status back into the domain error it came from."""

from __future__ import annotations

from typing import NoReturn

import grpc

from alfagent_common import errors

_ERROR_BY_STATUS: dict[grpc.StatusCode, type[errors.AlfagentError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidRequest,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.Unavailable,
    grpc.StatusCode.ABORTED: errors.Aborted,
    grpc.StatusCode.CANCELLED: errors.Cancelled,
}


class RemoteError(errors.AlfagentError):
    """A service answered with a status that has no domain meaning (INTERNAL, UNKNOWN, ...)."""


def raise_domain_error(error: grpc.aio.AioRpcError, service: str) -> NoReturn:
    error_type = _ERROR_BY_STATUS.get(error.code(), RemoteError)
    raise error_type(f"{service}: {error.code().name}: {error.details()}") from error
