"""Whole evaluations: many episodes, N in flight, resumable by run id.

Trajectory ids are deterministic from (run_id, game_id, attempt), so before playing a game the
evaluator asks the store whether that id is already there; re-running a run id after a crash
therefore plays only what is missing and never stores anything twice. A stored episode that the
harness cut short (stopped, env or endpoint failure: `attempts.PLAYED_AGAIN_ON_RESUME`) is played
again under the next attempt number, and that attempt is the game's result.

Two evaluations given the same run id at once (two agents sharing a store) each play the games
they find missing when they reach them, so a game may be played twice; the store keeps the copy
appended first (appends are idempotent by trajectory id), and an evaluation whose copy was the
second reports the stored one. The run ends with each game stored exactly once and both
summaries equal to what is stored; only the doubled play is wasted. To share the work, give the
agents different task types or splits instead.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from agent_service.attempts import is_played_again_on_resume
from agent_service.episode import EpisodeOutcome, EpisodeRequest, GameRef
from agent_service.runner import EpisodeRunner, TrajectorySink, seen_game_refused, trajectory_id_for
from agent_service.summary import TaskTypeSummary, by_task_type
from alfagent_common import errors
from alfagent_common.logs import bind

log = logging.getLogger(__name__)


class GameLister(Protocol):
    async def list_games(self, split: str, task_type: str) -> list[GameRef]: ...


@dataclass(frozen=True)
class EvaluationRequest:
    run_id: str
    split: str
    task_types: tuple[str, ...]
    # Episodes in all; 0 means every game of the split (and task types).
    limit: int
    concurrency: int
    # Policy, model and settings shared by every episode; its game fields are ignored.
    episode: EpisodeRequest


@dataclass(frozen=True)
class Progress:
    completed: int
    total: int
    outcome: EpisodeOutcome


@dataclass(frozen=True)
class EvaluationSummary:
    run_id: str
    rows: list[TaskTypeSummary]
    overall: TaskTypeSummary
    resumed: int


ProgressListener = Callable[[Progress], Awaitable[None]]


def choose_games(games_by_type: dict[str, list[GameRef]], limit: int) -> list[GameRef]:
    """Round-robin over task types, so that a small limit still covers every type evenly."""
    interleaved = [
        game
        for group in itertools.zip_longest(*(games_by_type[t] for t in sorted(games_by_type)))
        for game in group
        if game is not None
    ]
    return interleaved[:limit] if limit > 0 else interleaved


class Evaluator:
    def __init__(
        self, runner: EpisodeRunner, games: GameLister, sink: TrajectorySink, *, max_concurrency: int = 64
    ) -> None:
        self._runner = runner
        self._games = games
        self._sink = sink
        # The agent's own limit (ALFAGENT_MAX_CONCURRENCY): more is served at this many at once.
        self._max_concurrency = max_concurrency

    async def plan(self, request: EvaluationRequest) -> list[GameRef]:
        task_types = request.task_types or ("",)
        listed = await asyncio.gather(*(self._games.list_games(request.split, t) for t in task_types))
        games_by_type: dict[str, list[GameRef]] = {}
        for game in (game for games in listed for game in games):
            games_by_type.setdefault(game.task_type, []).append(game)
        if not games_by_type:
            raise errors.InvalidRequest(
                f"split {request.split!r} has no games of task types {list(request.task_types) or 'any'}"
            )
        return choose_games(games_by_type, request.limit)

    async def run(self, request: EvaluationRequest, listener: ProgressListener) -> EvaluationSummary:
        if request.concurrency < 1:
            raise errors.InvalidRequest(f"concurrency must be at least 1, got {request.concurrency}")
        games = await self.plan(request)
        episode = request.episode
        seen = [game.game_id for game in games if episode.is_seen_game(game.game_id)]
        if seen and not episode.settings.allow_seen_games:
            refused = seen_game_refused(seen[0], episode.settings.skill_library)
            raise type(refused)(f"{len(seen)} of the {len(games)} games chosen; the first: {refused}")
        concurrency = min(request.concurrency, self._max_concurrency)
        queue: asyncio.Queue[GameRef] = asyncio.Queue()
        for game in games:
            queue.put_nowait(game)
        outcomes: list[EpisodeOutcome] = []
        failures: list[BaseException] = []

        async def work() -> None:
            # After one game fails to start (env or store unreachable for long), no new game is
            # started, but the episodes in flight play to their end and are stored: the run can be
            # resumed with the same run id, and nothing is cancelled half-played.
            while not queue.empty() and not failures:
                game = queue.get_nowait()
                try:
                    outcome = await self._play_or_resume(request, game)
                except errors.AlfagentError as error:
                    failures.append(error)
                    return
                outcomes.append(outcome)
                await listener(Progress(len(outcomes), len(games), outcome))

        with bind(run_id=request.run_id):
            log.info("evaluation started", extra={"episodes": len(games), "concurrency": concurrency})
            workers = [asyncio.create_task(work()) for _ in range(min(concurrency, len(games)))]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        if failures:
            log.warning("evaluation stopped", extra={"error": str(failures[0]), "completed": len(outcomes)})
            raise failures[0]
        rows, overall = by_task_type(outcomes)
        return EvaluationSummary(request.run_id, rows, overall, sum(o.resumed for o in outcomes))

    async def _play_or_resume(self, request: EvaluationRequest, game: GameRef) -> EpisodeOutcome:
        attempt = request.episode.attempt
        while (
            stored := await self._sink.find(trajectory_id_for(request.run_id, game.game_id, attempt))
        ) is not None:
            if not is_played_again_on_resume(stored.end_reason):
                return replace(stored, resumed=True)
            attempt += 1
        episode = replace(
            request.episode,
            game_id=game.game_id,
            split="",
            task_type="",
            index=0,
            run_id=request.run_id,
            attempt=attempt,
        )
        outcome = await self._runner.run(episode)
        if outcome.resumed:
            # Another evaluation of this run id (another agent) stored the game while this one
            # played it: the store kept the first copy, and the summary reports what is stored.
            stored = await self._sink.find(outcome.trajectory_id)
            if stored is not None:
                return replace(stored, resumed=True)
        return outcome
