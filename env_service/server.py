"""Wires env_service together: config → catalog → worker pool (or the games in this process,
ENV_WORKERS=0) → core → gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent_common import startup
from alfagent_common.grpc_errors import with_domain_errors
from alfagent_common.metrics import MetricsServer, new_registry
from alfagent_common.server import serve
from env_service.config import EnvConfig
from env_service.games.catalog import Catalog
from env_service.games.scan_cache import ScanCache
from env_service.inprocess import InProcessWorkers
from env_service.metrics import EnvMetrics
from env_service.pool import WorkerPool
from env_service.servicer import EnvServicer
from env_service.sessions import EnvCore

log = logging.getLogger(__name__)

SERVICE = env_pb2.DESCRIPTOR.services_by_name["EnvService"]
SERVICE_NAME = SERVICE.full_name


async def run(config: EnvConfig) -> None:
    for root in config.game_roots:
        if not (root / "json_2.1.1").is_dir():
            log.warning(
                "no games here: the folder has no json_2.1.1 (for ALFWORLD_DATA, run alfworld-download)",
                extra={"root": str(root)},
            )
    started = time.perf_counter()
    cache = ScanCache.load(config.catalog_cache)
    catalog = Catalog.from_roots(list(config.game_roots), cache)
    cache.save()
    log.info(
        "games loaded",
        extra={
            "games": len(catalog.games(None, None)),
            "splits": catalog.splits(),
            "seconds": round(time.perf_counter() - started, 3),
            "read_from_cache": cache.hits,
            "read_from_files": cache.misses,
            "cache": str(config.catalog_cache) if config.catalog_cache else None,
        },
    )
    core_ref: list[EnvCore] = []
    pool: WorkerPool | InProcessWorkers
    if config.workers == 0:
        # textworld prints progress to stdout, as in a worker process (worker.serve_requests).
        sys.stdout = sys.stderr
        pool = InProcessWorkers(config.translation_cache)
    else:
        pool = WorkerPool(
            config.workers,
            on_worker_lost=lambda index: core_ref[0].worker_lost(index),
            translation_cache=config.translation_cache,
        )
    core = EnvCore(
        catalog,
        pool,
        max_sessions=config.max_sessions,
        session_ttl_seconds=config.session_ttl_seconds,
        max_action_chars=config.max_action_chars,
        replan_seconds=config.replan_seconds,
    )
    core_ref.append(core)
    metrics = EnvMetrics(new_registry())
    metrics.watch(core, pool.translation_counts)
    reaper: asyncio.Task[None] | None = None

    async def start() -> None:
        nonlocal reaper
        await pool.start()
        reaper = asyncio.create_task(_close_idle_sessions(core))

    async def stop() -> None:
        if reaper is not None:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
        await pool.stop()

    await serve(
        port=config.port,
        host=config.host,
        service_names=[SERVICE_NAME],
        register=lambda server: env_pb2_grpc.add_EnvServiceServicer_to_server(
            with_domain_errors(EnvServicer(core, metrics), SERVICE), server
        ),
        start=start,
        stop=stop,
        metrics=MetricsServer(metrics.registry, port=config.metrics_port, host=config.host),
        security=config.security,
    )


async def _close_idle_sessions(core: EnvCore) -> None:
    interval = max(1.0, min(60.0, core.session_ttl_seconds / 4))
    while True:
        await asyncio.sleep(interval)
        try:
            await core.close_idle()
        except Exception:
            log.exception("closing idle sessions failed")


def main() -> None:
    startup.serve("env_service", EnvConfig.from_environ, run)
