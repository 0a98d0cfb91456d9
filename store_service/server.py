"""Runs the store: recover the log, serve StoreService with health and reflection, close cleanly."""

from __future__ import annotations

import asyncio

import grpc

from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent_common.grpc_errors import with_domain_errors
from alfagent_common.metrics import MetricsServer, new_registry
from alfagent_common.server import serve
from store_service.config import MAX_TRAJECTORY_BYTES_CAP, StoreConfig
from store_service.log import TrajectoryLog
from store_service.metrics import StoreMetrics
from store_service.servicer import StoreServicer
from store_service.skill_libraries import SkillLibraryLog

SERVICE = store_pb2.DESCRIPTOR.services_by_name["StoreService"]
SERVICE_NAME = SERVICE.full_name


async def run(config: StoreConfig, stop_event: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or `stop_event`); health says SERVING once the log is open."""
    log = TrajectoryLog(
        config.store_dir, segment_bytes=config.segment_bytes, max_line_bytes=config.max_trajectory_bytes
    )
    log.acquire()  # a directory another store holds: fail before binding the port
    # A library may be as large as a gRPC message allows (a trajectory's limit is a setting).
    libraries = SkillLibraryLog(
        config.store_dir, segment_bytes=config.segment_bytes, max_line_bytes=MAX_TRAJECTORY_BYTES_CAP
    )
    metrics = StoreMetrics(new_registry())
    metrics.watch(log)
    servicer = StoreServicer(log, libraries, metrics)

    def register(server: grpc.aio.Server) -> None:
        store_pb2_grpc.add_StoreServiceServicer_to_server(with_domain_errors(servicer, SERVICE), server)

    async def start() -> None:
        recovered = await log.open()
        metrics.recovery_seconds.set(recovered.seconds)
        await libraries.open()

    async def stop() -> None:
        await log.close()
        await libraries.close()

    await serve(
        port=config.port,
        host=config.host,
        service_names=[SERVICE_NAME],
        register=register,
        start=start,
        stop=stop,
        grace_seconds=config.grace_seconds,
        stop_event=stop_event,
        metrics=MetricsServer(metrics.registry, port=config.metrics_port, host=config.host),
        security=config.security,
    )
