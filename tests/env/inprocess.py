"""An EnvService served by the test process itself on a free port: servicer, core and pool, in a thread.

The pool is real (worker processes playing the shipped games) or a `fakes.FakePool`; either way the
gRPC edge is the one the service uses: `EnvServicer` behind `with_domain_errors`, plus the health
service.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # grpc-stubs 1.53 lacks it

from alfagent.env.v1 import env_pb2_grpc
from alfagent_common.grpc_errors import with_domain_errors
from env_service.config import SHIPPED_GAMES_DIR
from env_service.games.catalog import Catalog
from env_service.pool import WorkerPool
from env_service.server import SERVICE
from env_service.servicer import EnvServicer
from env_service.sessions import EnvCore
from tests.env import fakes


class InProcessEnv:
    """`with InProcessEnv() as env:` serves at `env.address` until the block ends.

    With `fake_pool`, sessions are played by that pool (and `core` has the fake's catalog);
    otherwise by `workers` real worker processes on the shipped games.
    """

    def __init__(
        self, *, workers: int = 2, fake_pool: fakes.FakePool | None = None, max_sessions: int = 64
    ) -> None:
        self.workers = workers
        self.fake_pool = fake_pool
        self.max_sessions = max_sessions
        self.core: EnvCore | None = None
        self._pool: WorkerPool | None = None
        self._server: grpc.aio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="in-process-env", daemon=True)
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> InProcessEnv:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(120)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    async def _start(self) -> None:
        if self.fake_pool is not None:
            self.core = fakes.core(self.fake_pool, max_sessions=self.max_sessions)
        else:
            self._pool = WorkerPool(self.workers, on_worker_lost=lambda index: self._worker_lost(index))
            self.core = EnvCore(
                Catalog.from_roots([SHIPPED_GAMES_DIR]),
                self._pool,
                max_sessions=self.max_sessions,
                session_ttl_seconds=600,
                max_action_chars=1000,
            )
            await self._pool.start()
        self._server = grpc.aio.server()
        env_pb2_grpc.add_EnvServiceServicer_to_server(
            with_domain_errors(EnvServicer(self.core), SERVICE), self._server
        )
        health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, self._server)
        await health.set("", health_pb2.HealthCheckResponse.SERVING)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()

    def _worker_lost(self, index: int) -> None:
        assert self.core is not None
        self.core.worker_lost(index)

    async def _stop(self) -> None:
        if self._server is not None:
            await self._server.stop(5)
        if self._pool is not None:
            await self._pool.stop()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(60)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()
