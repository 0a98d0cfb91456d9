"""What the env client raises: one exception per gRPC status the env service answers with.

EnvError                  any failure; `.code` is the gRPC status name, str(error) its message
├── InvalidRequest        INVALID_ARGUMENT: a bad split, task type, index, action or session id
├── NotFound              NOT_FOUND: unknown game, or a session closed or expired
├── EpisodeOver           FAILED_PRECONDITION: a step after the episode ended
├── ResourceExhausted     RESOURCE_EXHAUSTED: every replica has its most sessions open
└── Unavailable           UNAVAILABLE, DEADLINE_EXCEEDED: no replica answers
    └── SessionLost       the session's replica died or its worker crashed (ABORTED)
"""

from __future__ import annotations

import grpc


class EnvError(Exception):
    code = "UNKNOWN"

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        if code:
            self.code = code


class InvalidRequest(EnvError):
    code = "INVALID_ARGUMENT"


class NotFound(EnvError):
    code = "NOT_FOUND"


class EpisodeOver(EnvError):
    code = "FAILED_PRECONDITION"


class ResourceExhausted(EnvError):
    code = "RESOURCE_EXHAUSTED"


class Unavailable(EnvError):
    code = "UNAVAILABLE"


class SessionLost(Unavailable):
    """The session cannot go on: its replica is unreachable, or its worker process crashed."""


_BY_STATUS: dict[grpc.StatusCode, type[EnvError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: EpisodeOver,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Unavailable,
    grpc.StatusCode.ABORTED: SessionLost,
}


def from_rpc(error: grpc.RpcError, *, session: bool = False) -> EnvError:
    """The exception for a failed call; `session`: the call was one session's Step or Close, so
    an unreachable replica means that session is lost."""
    code: grpc.StatusCode = error.code()
    details: str = error.details() or ""
    kind = _BY_STATUS.get(code, EnvError)
    if session and kind is Unavailable:
        kind = SessionLost
    return kind(f"{code.name}: {details}", code.name)
