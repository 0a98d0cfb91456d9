"""Stand-ins for EnvCore's outer boundaries: worker processes and the clock (no textworld, no processes)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from alfagent_common import errors
from alfagent_common.versions import GameVersions
from env_service.games.catalog import Catalog, GameInfo
from env_service.observation import Observation
from env_service.protocol import Close, Handlers, Request, Reset, Step
from env_service.sessions import EnvCore

R = TypeVar("R")
Sent = TypeVar("Sent", bound=Request[object])

TASK_TYPES = ("pick_and_place_simple", "look_at_obj_in_light")
# The action that wins every fake game.
WINNING_ACTION = "put pencil 1 in shelf 1"


def game(split: str, task_type: str, number: int) -> GameInfo:
    game_id = f"{split}/{task_type}-Pencil-None-Shelf-{300 + number}/trial_T{number}"
    return GameInfo(game_id, split, task_type, f"put a pencil in shelf {number}", "generated", Path(game_id))


def catalog(games_per_type: int = 3) -> Catalog:
    return Catalog(
        game(split, task_type, number)
        for split in ("generated_eval", "generated_train")
        for task_type in TASK_TYPES
        for number in range(games_per_type)
    )


class FakeWorker(Handlers):
    """One worker's sessions, played by a trivial game: `WINNING_ACTION` wins, anything else not."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sessions: dict[str, str] = {}

    def ping(self) -> int:
        return self.pid

    def reset(self, request: Reset) -> Observation:
        self.sessions[request.session_id] = request.game_path
        return Observation("You are in the middle of a room.", ("look", WINNING_ACTION), False, 0.0)

    def step(self, request: Step) -> Observation:
        if request.session_id not in self.sessions:
            raise errors.NotFound(f"session {request.session_id!r} is not in this worker")
        won = request.action == WINNING_ACTION
        return Observation("Nothing happens.", ("look", WINNING_ACTION), won, 1.0 if won else 0.0)

    def close(self, request: Close) -> bool:
        return self.sessions.pop(request.session_id, None) is not None


@dataclass
class FakePool:
    """`protocol.Workers` without processes: requests are served by `FakeWorker`s in this process.

    `hold` makes every Reset wait until it is set, so tests can have resets in flight; `fail_next`
    makes the next request raise instead (a worker that dies during the request raises Aborted).
    """

    size: int = 2
    restarts: int = 0
    hold: asyncio.Event | None = None
    fail_next: Exception | None = None
    requests: list[tuple[int, Request[object]]] = field(default_factory=list)
    workers: list[FakeWorker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workers = [FakeWorker(pid=1000 + index) for index in range(self.size)]

    def pids(self) -> list[int]:
        return [worker.pid for worker in self.workers]

    async def call(self, worker: int, request: Request[R]) -> R:
        self.requests.append((worker, request))
        if isinstance(request, Reset) and self.hold is not None:
            await self.hold.wait()
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        return request.apply(self.workers[worker])

    def replace(self, worker: int) -> None:
        """What WorkerPool does when a worker dies: a fresh worker takes its place."""
        self.restarts += 1
        self.workers[worker] = FakeWorker(pid=2000 + self.restarts)

    def sent(self, kind: type[Sent]) -> list[tuple[int, Sent]]:
        """The requests of one kind sent so far, with the worker each went to."""
        return [(worker, request) for worker, request in self.requests if isinstance(request, kind)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def core(
    pool: FakePool,
    clock: FakeClock | None = None,
    *,
    max_sessions: int = 64,
    session_ttl_seconds: float = 600.0,
    max_action_chars: int = 1000,
) -> EnvCore:
    return EnvCore(
        catalog(),
        pool,
        max_sessions=max_sessions,
        session_ttl_seconds=session_ttl_seconds,
        max_action_chars=max_action_chars,
        clock=clock or FakeClock(),
        game_versions=GameVersions("0.4.2", "1.7.0"),
    )
