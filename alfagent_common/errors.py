"""Domain errors raised by the services' core code.

The core never imports grpc; it raises these, and the wrapper every servicer is registered
with (`alfagent_common.grpc_errors.with_domain_errors`) turns each into its gRPC status code.
Messages are written for a person: they name the bad value and say what would have been valid.
"""


class AlfagentError(Exception):
    """Base of every error a service reports to its caller on purpose."""


class InvalidRequest(AlfagentError, ValueError):
    """The request is malformed or names something that cannot exist (INVALID_ARGUMENT)."""


class PermissionDenied(AlfagentError):
    """The request asks for something this service is configured not to do (PERMISSION_DENIED)."""


class NotFound(AlfagentError, LookupError):
    """The request names something well-formed that does not exist (NOT_FOUND)."""


class FailedPrecondition(AlfagentError):
    """The request is valid but not in the current state, e.g. a step after the end."""


class ResourceExhausted(AlfagentError):
    """A configured limit is reached; the caller may retry later."""


class Unavailable(AlfagentError):
    """A dependency (worker process, another service) is down; retrying may succeed."""


class Aborted(AlfagentError):
    """The operation was cut short by a fault on our side, e.g. a worker that crashed."""


class Cancelled(AlfagentError):
    """The caller went away."""
