"""A gRPC server of hand-written servicers on a free port, for one call's worth of test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

T = TypeVar("T")


async def serve_and_call(
    register: Callable[[grpc.aio.Server], None], body: Callable[[grpc.aio.Channel], Awaitable[T]]
) -> T:
    """Serve what `register` adds on a free loopback port, run `body` on a channel to it, stop."""
    server = grpc.aio.server()
    register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            return await body(channel)
    finally:
        await server.stop(None)
