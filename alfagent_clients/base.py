"""What every service client shares: a per-call deadline and domain errors instead of grpc ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from alfagent_clients.errors import domain_error

Response = TypeVar("Response")


class ServiceClient:
    # Named in error messages ("env_service: NOT_FOUND: ...").
    service = ""

    def __init__(self, *, timeout_seconds: float | None) -> None:
        # None: no deadline.
        self._timeout_seconds = timeout_seconds

    async def _call(self, method: Callable[..., Awaitable[Response]], request: Any) -> Response:
        try:
            return await method(request, timeout=self._timeout_seconds)
        except grpc.aio.AioRpcError as error:
            raise domain_error(error, self.service) from error
