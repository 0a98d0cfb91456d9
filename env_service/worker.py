"""The worker process: owns some sessions and plays their games, one request at a time.

Requests (env_service/protocol.py) arrive over a pipe as `(request_id, request)`; each answer goes
back as `(request_id, ok, payload)`, where payload is `request.apply(state)` or, on failure, an
exception the parent re-raises. Domain errors travel as themselves; anything else is reported by
type and message, since arbitrary exceptions from textworld need not pickle.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from alfagent_common import errors, logs
from alfagent_common.versions import package_version
from env_service.observation import Observation
from env_service.protocol import Close, Request, Reset, Step
from env_service.translations import TranslationCache, TranslationCounts

if TYPE_CHECKING:  # imported for real inside WorkerState, where the games are played
    from env_service.runtime import GameRun

log = logging.getLogger(__name__)

R = TypeVar("R")


class WorkerFailure(Exception):
    """An unexpected error inside a worker, carried back to the parent by type name and message."""


class WorkerState:
    """The sessions this worker plays, and the envs it keeps for re-use."""

    def __init__(
        self, translation_cache: Path | None = None, translation_counts: TranslationCounts | None = None
    ) -> None:
        # Imported here so the parent process never loads textworld.
        from env_service import speedups
        from env_service.runtime import EnvPool, GameRun

        translations = None
        if translation_cache is not None:
            translations = TranslationCache(
                translation_cache, package_version("fast-downward-textworld"), translation_counts
            )
        speedups.install(translations)
        self._game_run = GameRun
        self._envs = EnvPool()
        self._runs: dict[str, GameRun] = {}

    def ping(self) -> int:
        return os.getpid()

    def reset(self, request: Reset) -> Observation:
        run = self._game_run(
            self._envs.take(),
            request.game_path,
            with_expert_plan=request.with_expert_plan,
            replan_seconds=request.replan_seconds,
        )
        try:
            observation = run.reset()
        except BaseException:
            self._envs.give_back(run.env)
            raise
        self._runs[request.session_id] = run
        return observation

    def step(self, request: Step) -> Observation:
        run = self._runs.get(request.session_id)
        if run is None:
            raise errors.NotFound(f"session {request.session_id!r} is not in this worker")
        return run.step(request.action)

    def close(self, request: Close) -> bool:
        run = self._runs.pop(request.session_id, None)
        if run is None:
            return False
        self._envs.give_back(run.env)
        return True


def serve(state: WorkerState, request: Request[R]) -> R:
    """One request's answer; mypy checks that WorkerState serves every request as typed.

    Domain errors leave as themselves; anything else is logged here and leaves as a
    `WorkerFailure` naming its type and message (textworld's own exceptions need not pickle).
    """
    try:
        return request.apply(state)
    except errors.AlfagentError:
        raise
    except Exception as error:
        log.exception("worker request %s failed", type(request).__name__)
        raise WorkerFailure(f"{type(error).__name__}: {error}") from None


def serve_requests(
    connection: Connection,
    translation_cache: Path | None = None,
    translation_counts: TranslationCounts | None = None,
) -> None:
    """Entry point of a worker process; `translation_cache` is the directory of PDDL→SAS
    translations shared by the workers (None: each worker keeps its own, in memory), its reads
    counted in `translation_counts` (shared with the service)."""
    logs.configure("env_service.worker")
    # textworld and the planner print progress to stdout; keep stdout for nothing but the service.
    sys.stdout = sys.stderr
    state = WorkerState(translation_cache, translation_counts)
    while True:
        try:
            request_id, request = connection.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            result = serve(state, request)
        except (errors.AlfagentError, WorkerFailure) as error:
            connection.send((request_id, False, error))
        else:
            with contextlib.suppress(BrokenPipeError):
                connection.send((request_id, True, result))
