"""The environment service's core: games, sessions and the rules of a session's life.

No grpc here. Sessions are played by `protocol.Workers`: worker processes (`pool.WorkerPool`),
the service's own games thread (`inprocess.InProcessWorkers`, ENV_WORKERS=0), or a fake in tests;
this class decides which worker gets a session, enforces the session cap,
the step cap, idle expiry and the "no step after the end" rule, and turns catalog errors into
domain errors.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from alfagent_common import errors
from alfagent_common.games import DEFAULT_SPLIT
from alfagent_common.versions import GameVersions, installed_game_versions
from env_service.games.catalog import Catalog, CatalogError, GameInfo, UnknownGame
from env_service.observation import Observation
from env_service.protocol import Close, Reset, Step, Workers
from env_service.speedups import TRANSLATIONS_KEPT

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
# Extra sessions a worker may carry and still get a game it has already translated.
AFFINITY_SLACK = 2


@dataclass(frozen=True)
class GameSelection:
    game_id: str = ""
    split: str = ""
    task_type: str = ""
    index: int = 0


@dataclass(frozen=True)
class ResetResult:
    session_id: str
    game: GameInfo
    observation: Observation


@dataclass(frozen=True)
class StepResult:
    observation: Observation
    step_index: int
    done: bool


@dataclass
class _Session:
    session_id: str
    game: GameInfo
    worker: int
    max_steps: int
    last_used: float
    steps: int = 0
    done: bool = False
    lost_reason: str = ""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class EnvCore:
    def __init__(
        self,
        catalog: Catalog,
        pool: Workers,
        *,
        max_sessions: int,
        session_ttl_seconds: float,
        max_action_chars: int,
        replan_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        game_versions: GameVersions | None = None,
    ) -> None:
        self.catalog = catalog
        # The workers are this process's children on the same installation: its alfworld and
        # textworld are the ones that play every game.
        self.game_versions = game_versions or installed_game_versions()
        self.replan_seconds = replan_seconds
        self.pool = pool
        self.max_sessions = max_sessions
        self.session_ttl_seconds = session_ttl_seconds
        self.max_action_chars = max_action_chars
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        # Sessions lost with their worker, kept so a later Step can say what happened.
        self._lost: dict[str, str] = {}
        # Resets in flight per worker: they count as load before their session exists, or
        # concurrent resets would all land on the same worker.
        self._resetting = [0] * pool.size
        # Games each worker has translated recently (mirrors speedups.TRANSLATIONS_KEPT): a reset
        # there costs ~1/20 of a reset elsewhere, so placement prefers such a worker.
        self._games_seen: list[OrderedDict[str, None]] = [OrderedDict() for _ in range(pool.size)]

    # -- games ---------------------------------------------------------------------------------

    def select_game(self, selection: GameSelection) -> GameInfo:
        try:
            if selection.game_id:
                return self.catalog.get(selection.game_id)
            return self.catalog.select(
                selection.split or DEFAULT_SPLIT, selection.task_type or None, selection.index
            )
        except UnknownGame as error:
            raise errors.NotFound(str(error)) from None
        except CatalogError as error:
            raise errors.InvalidRequest(str(error)) from None

    def list_games(
        self, split: str, task_type: str, page_size: int, page_token: str
    ) -> tuple[list[GameInfo], str, int]:
        if page_size < 0:
            raise errors.InvalidRequest(f"page_size must not be negative, got {page_size}")
        try:
            games = self.catalog.games(split or None, task_type or None)
        except CatalogError as error:
            raise errors.InvalidRequest(str(error)) from None
        start = _parse_offset_token(page_token, len(games))
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        page = games[start : start + size]
        next_token = str(start + size) if start + size < len(games) else ""
        return page, next_token, len(games)

    # -- sessions ------------------------------------------------------------------------------

    async def reset(self, selection: GameSelection, *, with_expert_plan: bool, max_steps: int) -> ResetResult:
        if max_steps < 0:
            raise errors.InvalidRequest(f"max_steps must not be negative, got {max_steps}")
        game = self.select_game(selection)
        if len(self._sessions) + sum(self._resetting) >= self.max_sessions:
            raise errors.ResourceExhausted(
                f"{self.max_sessions} sessions are open, the configured maximum (ENV_MAX_SESSIONS); "
                "close sessions you no longer need or try again later"
            )
        session_id = uuid.uuid4().hex
        worker = self._place(game)
        self._resetting[worker] += 1
        try:
            observation = await self.pool.call(
                worker, Reset(session_id, str(game.path), with_expert_plan, self.replan_seconds)
            )
            self._sessions[session_id] = _Session(session_id, game, worker, max_steps, self._clock())
        finally:
            self._resetting[worker] -= 1
        log.info(
            "session opened", extra={"session_id": session_id, "game_id": game.game_id, "worker": worker}
        )
        return ResetResult(session_id, game, observation)

    async def step(self, session_id: str, action: str) -> StepResult:
        self._check_action(action)
        session = self._get(session_id)
        async with session.lock:
            if session.lost_reason:
                raise errors.Aborted(session.lost_reason)
            if session.done:
                raise errors.FailedPrecondition(
                    f"session {session_id!r} has ended after {session.steps} steps; reset to play again"
                )
            observation = await self.pool.call(session.worker, Step(session_id, action))
            session.steps += 1
            session.last_used = self._clock()
            at_cap = session.max_steps > 0 and session.steps >= session.max_steps
            session.done = observation.won or at_cap
            return StepResult(observation, session.steps, session.done)

    async def close(self, session_id: str) -> bool:
        _check_session_id(session_id)
        self._lost.pop(session_id, None)
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        async with session.lock:
            if not session.lost_reason:
                await self.pool.call(session.worker, Close(session_id))
        log.info("session closed", extra={"session_id": session_id, "steps": session.steps})
        return True

    async def close_idle(self) -> int:
        """Closes sessions unused for longer than the TTL; returns how many."""
        deadline = self._clock() - self.session_ttl_seconds
        idle = [
            s.session_id for s in self._sessions.values() if s.last_used < deadline and not s.lock.locked()
        ]
        for session_id in idle:
            await self.close(session_id)
        if idle:
            log.info("closed idle sessions", extra={"count": len(idle)})
        return len(idle)

    def worker_lost(self, worker: int) -> None:
        """Called by the pool when a worker dies: its sessions cannot continue."""
        self._games_seen[worker].clear()
        for session in list(self._sessions.values()):
            if session.worker == worker:
                reason = (
                    f"session {session.session_id!r} was lost: its env worker crashed; reset a new session"
                )
                session.lost_reason = reason
                self._lost[session.session_id] = reason
                del self._sessions[session.session_id]

    @property
    def live_sessions(self) -> int:
        return len(self._sessions)

    def _get(self, session_id: str) -> _Session:
        _check_session_id(session_id)
        session = self._sessions.get(session_id)
        if session is not None:
            return session
        if session_id in self._lost:
            raise errors.Aborted(self._lost[session_id])
        raise errors.NotFound(f"no open session {session_id!r}: it was never opened, was closed, or expired")

    def sessions_per_worker(self) -> list[int]:
        counts = [0] * self.pool.size
        for session in self._sessions.values():
            counts[session.worker] += 1
        return counts

    def _place(self, game: GameInfo) -> int:
        """The worker for a new session on `game`.

        The least loaded (open sessions plus resets in flight), except that a worker that has
        the game's translation cached wins while it has at most AFFINITY_SLACK more sessions.
        Ties go to the worker with fewer cached games, which spreads games over the workers.
        """
        load = [
            open_ + resetting
            for open_, resetting in zip(self.sessions_per_worker(), self._resetting, strict=True)
        ]
        key = str(game.path)
        least = min(load)
        warm = [
            w
            for w in range(self.pool.size)
            if key in self._games_seen[w] and load[w] <= least + AFFINITY_SLACK
        ]
        candidates = warm or range(self.pool.size)
        worker = min(candidates, key=lambda w: (load[w], len(self._games_seen[w]), w))
        seen = self._games_seen[worker]
        seen[key] = None
        seen.move_to_end(key)
        while len(seen) > TRANSLATIONS_KEPT:
            seen.popitem(last=False)
        return worker

    def _check_action(self, action: str) -> None:
        if not action.strip():
            raise errors.InvalidRequest("action is empty; send a command such as 'look'")
        if len(action) > self.max_action_chars:
            raise errors.InvalidRequest(
                f"action is {len(action)} characters long; the limit is {self.max_action_chars}"
            )
        if any(unicodedata.category(char) == "Cc" for char in action):
            raise errors.InvalidRequest("action contains control characters; send a single line of text")


def _check_session_id(session_id: str) -> None:
    if not session_id:
        raise errors.InvalidRequest("session_id is empty")
    if len(session_id) > 64 or not session_id.isalnum():
        raise errors.InvalidRequest(f"session_id {session_id[:80]!r} is malformed; use the id Reset returned")


def _parse_offset_token(token: str, total: int) -> int:
    if not token:
        return 0
    if not token.isdigit() or int(token) > total:
        raise errors.InvalidRequest(f"page_token {token[:80]!r} is not one this service gave out")
    return int(token)
