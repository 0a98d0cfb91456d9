"""alfagent.env.v1.EnvService: a thin adapter over `EnvCore`; it times resets and steps."""

from __future__ import annotations

import os
import time

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent_common import errors
from alfagent_common.game_proto import game_to_proto
from alfagent_common.grpc_errors import Context
from alfagent_common.logs import bind
from env_service import convert
from env_service.metrics import EnvMetrics
from env_service.sessions import EnvCore


class EnvServicer(env_pb2_grpc.EnvServiceServicer):
    def __init__(self, core: EnvCore, metrics: EnvMetrics | None = None) -> None:
        self.core = core
        self.metrics = metrics or EnvMetrics()

    async def ListGames(
        self, request: env_pb2.ListGamesRequest, context: Context
    ) -> env_pb2.ListGamesResponse:
        games, next_token, total = self.core.list_games(
            request.split, request.task_type, request.page_size, request.page_token
        )
        return env_pb2.ListGamesResponse(
            games=[game_to_proto(game) for game in games],
            next_page_token=next_token,
            total_size=total,
        )

    async def Reset(self, request: env_pb2.ResetRequest, context: Context) -> env_pb2.ResetResponse:
        started = time.perf_counter()
        try:
            result = await self.core.reset(
                convert.selection_from_proto(request),
                with_expert_plan=request.with_expert_plan,
                max_steps=request.max_steps,
            )
        except errors.ResourceExhausted:
            self.metrics.sessions_refused.inc()
            raise
        self.metrics.reset_seconds.observe(time.perf_counter() - started)
        return convert.reset_to_proto(result, self.core.game_versions)

    async def Step(self, request: env_pb2.StepRequest, context: Context) -> env_pb2.StepResponse:
        with bind(session_id=request.session_id):
            started = time.perf_counter()
            result = await self.core.step(request.session_id, request.action)
            self.metrics.step_seconds.observe(time.perf_counter() - started)
            return convert.step_to_proto(result)

    async def Close(self, request: env_pb2.CloseRequest, context: Context) -> env_pb2.CloseResponse:
        with bind(session_id=request.session_id):
            return env_pb2.CloseResponse(closed=await self.core.close(request.session_id))

    async def GetStats(self, request: env_pb2.GetStatsRequest, context: Context) -> env_pb2.EnvStats:
        return env_pb2.EnvStats(
            live_sessions=self.core.live_sessions,
            workers=self.core.pool.size,
            rss_bytes=_tree_rss_bytes(self.core.pool.pids()),
            games=len(self.core.catalog.games(None, None)),
            splits=self.core.catalog.splits(),
            max_sessions=self.core.max_sessions,
            worker_pids=self.core.pool.pids(),
            worker_restarts=self.core.pool.restarts,
            worker_sessions=self.core.sessions_per_worker(),
            versions=convert.versions_to_proto(self.core.game_versions),
        )


def _tree_rss_bytes(worker_pids: list[int]) -> int:
    """Resident memory of this process and its workers: what a container's limit counts."""
    import psutil

    total = 0
    # A set: with ENV_WORKERS=0 the one worker pid is this process's.
    for pid in {os.getpid(), *worker_pids}:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            continue
    return total
