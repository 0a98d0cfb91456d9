"""The client side of the error mapping: a gRPC status back into the domain error it came from.

Derived from the one table the servers use (`alfagent_common.grpc_errors.STATUS_BY_ERROR`), so
that a code added there is understood here without a second list to keep in step.
"""

from __future__ import annotations

import grpc

from alfagent_common import errors
from alfagent_common.grpc_errors import STATUS_BY_ERROR

ERROR_BY_STATUS: dict[grpc.StatusCode, type[errors.AlfagentError]] = {
    **{status: error for error, status in STATUS_BY_ERROR.items()},
    # Set by the client's own deadline, not by a server: the service was too slow to answer,
    # which a caller handles like a service that is down (retry, or give up).
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.Unavailable,
}


class RemoteError(errors.AlfagentError):
    """A service answered with a status that has no domain meaning (INTERNAL, UNKNOWN, ...)."""


def domain_error(error: grpc.aio.AioRpcError, service: str) -> errors.AlfagentError:
    """The domain exception for a failed call to `service`; its message keeps code and details."""
    kind = ERROR_BY_STATUS.get(error.code(), RemoteError)
    return kind(f"{service}: {error.code().name}: {error.details()}")
