"""The one way every service runs its gRPC server.

Builds a `grpc.aio` server with the library's health servicer and server reflection (services
register their servicers through `grpc_errors.with_domain_errors`); reports SERVING only after
the service says it is ready; on SIGTERM or SIGINT reports NOT_SERVING, lets in-flight calls
finish within a grace period, then runs the service's own shutdown. The service's Prometheus
metrics (`alfagent_common.metrics.MetricsServer`), if it has any, are served from before the
service's own start-up until after its shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # grpc-stubs 1.53 lacks it
from grpc_reflection.v1alpha import reflection

from alfagent_common import eventloop
from alfagent_common.auth import AuthInterceptor, server_credentials
from alfagent_common.metrics import MetricsServer
from alfagent_common.security import Security

log = logging.getLogger(__name__)

# Trajectories and admissible-command lists can be large; 64 MiB leaves room.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
# Channels from one of our services to another. gRPC's own retry layer is off: no retry policy is
# configured (callers retry with tenacity), yet with the layer on every call keeps a copy of its
# request for a retry that never comes. BDP probing is off: it sizes flow-control windows for
# long, fast links with pings, and gains nothing between services on one network. Together they
# measured +8% store appends from 16 clients (bench/RESULTS.md).
CHANNEL_OPTIONS = [*SERVER_OPTIONS, ("grpc.enable_retries", 0), ("grpc.http2.bdp_probe", 0)]


async def serve(
    *,
    port: int,
    host: str,
    service_names: Sequence[str],
    register: Callable[[grpc.aio.Server], None],
    start: Callable[[], Awaitable[None]] | None = None,
    stop: Callable[[], Awaitable[None]] | None = None,
    grace_seconds: float = 10.0,
    stop_event: asyncio.Event | None = None,
    watch: Callable[[Callable[[bool], Awaitable[None]]], Coroutine[Any, Any, None]] | None = None,
    metrics: MetricsServer | None = None,
    security: Security | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or `stop_event`), then shut down gracefully.

    `watch`, if given, runs while the service serves and reports readiness changes after start-up
    through the callback it is handed (True: SERVING, False: NOT_SERVING), e.g. when a service
    this one depends on goes away and comes back.

    `metrics`, if given, listens before the service's own start-up runs: a metrics port that cannot
    be had ends the start-up (a `ConfigError` naming METRICS_PORT) before anything slow starts.

    `security` (`security.py`): TLS and tokens; a non-loopback `host` without them is refused
    (ConfigError) unless ALFAGENT_INSECURE=1, and then said loudly. None: dev mode (loopback only).
    """
    security = security or Security()
    mode = security.check_bind(host)
    if mode == "insecure":
        log.warning(
            "INSECURE: serving without TLS or tokens on an address other machines can reach "
            "(ALFAGENT_INSECURE=1): anyone who reaches this port may call every method",
            extra={"host": host, "port": port},
        )
    interceptors = [AuthInterceptor(security)] if security.tokens is not None else None
    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=interceptors)
    register(server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    credentials = server_credentials(security)
    bound_port = (
        server.add_secure_port(f"{host}:{port}", credentials)
        if credentials is not None
        else server.add_insecure_port(f"{host}:{port}")
    )
    for name in ("", *service_names):
        await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.start()

    stopping = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    metrics_port = 0
    try:
        try:
            if metrics is not None:
                metrics_port = metrics.start()
            if start is not None:
                await start()
        except BaseException:
            # Never leave the server running (and the loop unclosable) when start-up fails.
            await server.stop(0)
            raise

        async def report(serving: bool) -> None:
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in ("", *service_names):
                await health.set(name, status)

        await report(True)
        watcher = asyncio.create_task(watch(report)) if watch is not None else None
        # Tests and `make up` read this line to learn the port when PORT=0.
        log.info(
            "serving",
            extra={
                "port": bound_port,
                # 0: no metrics served (METRICS_PORT=0).
                "metrics_port": metrics_port,
                "services": list(service_names),
                "event_loop": eventloop.loop_name(loop),
                # dev (loopback, no identity), secured (TLS and tokens), tls, tokens, or insecure.
                "security": mode,
            },
        )
        await stopping.wait()
        if watcher is not None:
            watcher.cancel()
        log.info("stopping", extra={"grace_seconds": grace_seconds})
        await health.enter_graceful_shutdown()
        await server.stop(grace_seconds)
    finally:
        if stop is not None:
            await stop()
        if metrics is not None:
            # shutdown() waits up to the HTTP server's 0.5 s poll: not on the event loop.
            await asyncio.to_thread(metrics.stop)
    log.info("stopped")
