"""Worker processes, seen from the service: send a request to one, await its answer.

Each worker has a reader thread that turns answers into resolved asyncio futures. When a worker
dies (crash, SIGKILL, OOM), every request it still owed fails with `Aborted`, the pool tells its
owner which worker died (so the sessions it held can be marked lost) and starts a replacement.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar, cast

from alfagent_common import errors
from env_service.protocol import Ping, Request
from env_service.translations import TranslationCounts
from env_service.worker import serve_requests

R = TypeVar("R")

log = logging.getLogger(__name__)

# "spawn": a forked child would inherit the gRPC server's threads and locks.
_CONTEXT = multiprocessing.get_context("spawn")


class Worker:
    def __init__(
        self,
        index: int,
        loop: asyncio.AbstractEventLoop,
        on_death: Callable[[Worker], None],
        translation_cache: Path | None = None,
    ) -> None:
        self.index = index
        self._loop = loop
        self._on_death = on_death
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._request_ids = itertools.count()
        self._send_lock = threading.Lock()
        self.alive = True
        # Its translation cache's hits and misses, in memory it shares with this process.
        self.translation_counts = TranslationCounts(_CONTEXT)
        parent_end, child_end = _CONTEXT.Pipe()
        self._connection: Connection = parent_end
        self.process: BaseProcess = _CONTEXT.Process(
            target=serve_requests,
            args=(child_end, translation_cache, self.translation_counts),
            name=f"env-worker-{index}",
            daemon=True,
        )
        self.process.start()
        child_end.close()
        self._reader = threading.Thread(
            target=self._read_answers, name=f"env-worker-{index}-reader", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    async def call(self, request: Request[R]) -> R:
        if not self.alive:
            raise errors.Unavailable(f"env worker {self.index} is restarting; try again")
        request_id = next(self._request_ids)
        future: asyncio.Future[Any] = self._loop.create_future()
        self._pending[request_id] = future
        try:
            with self._send_lock:
                self._connection.send((request_id, request))
        except (BrokenPipeError, OSError):
            self._pending.pop(request_id, None)
            raise errors.Aborted(f"env worker {self.index} died before it could take the request") from None
        # The worker answered `request.apply(...)`, typed R on its side of the pipe.
        return cast(R, await future)

    def _read_answers(self) -> None:
        while True:
            try:
                request_id, ok, payload = self._connection.recv()
            except (EOFError, OSError):
                break
            self._loop.call_soon_threadsafe(self._resolve, request_id, ok, payload)
        self._loop.call_soon_threadsafe(self._died)

    def _resolve(self, request_id: int, ok: bool, payload: Any) -> None:
        future = self._pending.pop(request_id, None)
        if future is None or future.done():
            return
        if ok:
            future.set_result(payload)
        else:
            future.set_exception(payload)

    def _died(self) -> None:
        if not self.alive:
            return
        self.alive = False
        self.process.join(timeout=1)
        exit_code = self.process.exitcode
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    errors.Aborted(
                        f"env worker {self.index} crashed (exit code {exit_code}) during the request"
                    )
                )
        self._pending.clear()
        self._on_death(self)

    def stop(self) -> None:
        self.alive = False
        self._connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


class WorkerPool:
    def __init__(
        self, size: int, on_worker_lost: Callable[[int], None], translation_cache: Path | None = None
    ) -> None:
        self.size = size
        self._translation_cache = translation_cache
        self._on_worker_lost = on_worker_lost
        self.workers: list[Worker] = []
        self.restarts = 0
        self._stopping = False
        # Translation-cache hits and misses of the workers replaced so far.
        self._retired_counts = (0, 0)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.workers = [self._start(index, loop) for index in range(self.size)]
        # Ready means every worker has imported textworld and answers.
        await asyncio.gather(*(worker.call(Ping()) for worker in self.workers))

    def _replace(self, dead: Worker) -> None:
        if self._stopping:
            return
        log.error("env worker died; starting a replacement", extra={"worker": dead.index, "pid": dead.pid})
        self._on_worker_lost(dead.index)
        hits, misses = self._retired_counts
        counts = dead.translation_counts
        self._retired_counts = (hits + counts.hits, misses + counts.misses)
        self.restarts += 1
        self.workers[dead.index] = self._start(dead.index, asyncio.get_running_loop())

    def _start(self, index: int, loop: asyncio.AbstractEventLoop) -> Worker:
        return Worker(index, loop, self._replace, self._translation_cache)

    def pids(self) -> list[int]:
        return [worker.pid for worker in self.workers if worker.pid]

    def translation_counts(self) -> tuple[int, int]:
        """Translation-cache (hits, misses) of every worker, those replaced included. Read from
        any thread (the metrics' scrape): the workers' list is replaced item by item, never resized
        while serving, and a replaced worker's counts move to the retired ones in one assignment
        (a scrape at that instant may see them twice or not at all, once)."""
        hits, misses = self._retired_counts
        for worker in list(self.workers):
            hits += worker.translation_counts.hits
            misses += worker.translation_counts.misses
        return hits, misses

    async def call(self, worker: int, request: Request[R]) -> R:
        return await self.workers[worker].call(request)

    async def stop(self) -> None:
        self._stopping = True
        await asyncio.gather(*(asyncio.to_thread(worker.stop) for worker in self.workers))
