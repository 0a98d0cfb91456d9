"""The worker process: owns some sessions and plays their games, one request at a time.

Requests arrive over a pipe as `(request_id, operation, args)`; each answer goes back as
`(request_id, ok, payload)`, where payload is the result or, on failure, an exception the parent
re-raises. Domain errors travel as themselves; anything else is reported by type and message,
since arbitrary exceptions from textworld need not pickle.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from multiprocessing.connection import Connection
from typing import Any

from alfagent_common import errors, logs

log = logging.getLogger(__name__)


class WorkerFailure(Exception):
    """An unexpected error inside a worker, carried back to the parent by type name and message."""


class WorkerState:
    """The sessions this worker plays, and the envs it keeps for re-use."""

    def __init__(self) -> None:
        # Imported here so the parent process never loads textworld.
        from env_service import speedups
        from env_service.runtime import EnvPool, GameRun

        speedups.install()
        self._game_run = GameRun
        self._envs = EnvPool()
        self._runs: dict[str, Any] = {}

    def ping(self) -> int:
        return os.getpid()

    def reset(
        self, session_id: str, game_path: str, with_expert_plan: bool, replan_seconds: float | None = None
    ) -> Any:
        run = self._game_run(
            self._envs.take(), game_path, with_expert_plan=with_expert_plan, replan_seconds=replan_seconds
        )
        try:
            observation = run.reset()
        except BaseException:
            self._envs.give_back(run.env)
            raise
        self._runs[session_id] = run
        return observation

    def step(self, session_id: str, action: str) -> Any:
        run = self._runs.get(session_id)
        if run is None:
            raise errors.NotFound(f"session {session_id!r} is not in this worker")
        return run.step(action)

    def close(self, session_id: str) -> bool:
        run = self._runs.pop(session_id, None)
        if run is None:
            return False
        self._envs.give_back(run.env)
        return True

    def stats(self) -> dict[str, int]:
        return {"pid": os.getpid(), "sessions": len(self._runs), "envs_created": self._envs.created}


def serve_requests(connection: Connection) -> None:
    """Entry point of a worker process."""
    logs.configure("env_service.worker")
    # textworld and the planner print progress to stdout; keep stdout for nothing but the service.
    sys.stdout = sys.stderr
    state = WorkerState()
    while True:
        try:
            request_id, operation, args = connection.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            result = getattr(state, operation)(*args)
        except errors.AlfagentError as error:
            connection.send((request_id, False, error))
        except Exception as error:
            log.exception("worker request %s failed", operation)
            failure = WorkerFailure(f"{type(error).__name__}: {error}")
            connection.send((request_id, False, failure))
        else:
            with contextlib.suppress(BrokenPipeError):
                connection.send((request_id, True, result))
