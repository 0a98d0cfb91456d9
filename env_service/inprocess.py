"""Games played in the service's own process (`ENV_WORKERS=0`), as PyTorch's `num_workers=0`.

One worker's games without a worker process: no pipe, no pickling and no reader thread between the
gRPC front and the game, so a replica is a single process doing one core's work. For replicas of
one worker each under something that restarts them (compose `--scale`, a Kubernetes Deployment),
where throughput then grows with the replicas as long as there are cores (bench/RESULTS.md).

The price is isolation: a crash in textworld or the planner takes the whole replica down, where a
worker pool replaces the worker and keeps serving its other sessions.

The games run on one thread of their own (textworld is not thread-safe), so the event loop keeps
answering health checks and GetStats while a step or a replan runs.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from alfagent_common import errors
from env_service.protocol import Request
from env_service.translations import TranslationCounts
from env_service.worker import WorkerState, serve

R = TypeVar("R")


class InProcessWorkers:
    """The `protocol.Workers` of one worker that is this process."""

    size = 1
    # Nothing to replace: if the games crash the process, the process is gone.
    restarts = 0

    def __init__(self, translation_cache: Path | None = None) -> None:
        self._translation_cache = translation_cache
        self._games_thread = ThreadPoolExecutor(1, thread_name_prefix="env-games")
        self._state: WorkerState | None = None
        self._translation_counts = TranslationCounts()

    async def start(self) -> None:
        # Built on the games' thread: it imports textworld and installs the speedups there.
        loop = asyncio.get_running_loop()
        self._state = await loop.run_in_executor(
            self._games_thread, WorkerState, self._translation_cache, self._translation_counts
        )

    def pids(self) -> list[int]:
        """The process playing the games: this one."""
        return [os.getpid()]

    def translation_counts(self) -> tuple[int, int]:
        """Translation-cache (hits, misses) so far."""
        return self._translation_counts.hits, self._translation_counts.misses

    async def call(self, worker: int, request: Request[R]) -> R:
        if self._state is None:
            raise errors.Unavailable("the env is still starting; try again")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._games_thread, serve, self._state, request)

    async def stop(self) -> None:
        await asyncio.to_thread(self._games_thread.shutdown, wait=True)
