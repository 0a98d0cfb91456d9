"""What the service asks of a worker process, and what each request answers: typed for mypy.

Each request is a small frozen dataclass that names its answer's type (`Request[Observation]`)
and the worker method that serves it (`apply`), so a request built in the service and the code
that serves it in the worker are checked against one another; nothing is dispatched by name.
Requests travel over the worker's pipe as themselves (pickled); see pool.py and worker.py.

No textworld here: the service's own process imports this module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from env_service.observation import Observation

Answer = TypeVar("Answer", covariant=True)
R = TypeVar("R")


class Handlers(Protocol):
    """The worker's side: one method per request (env_service.worker.WorkerState)."""

    def ping(self) -> int: ...

    def reset(self, request: Reset) -> Observation: ...

    def step(self, request: Step) -> Observation: ...

    def close(self, request: Close) -> bool: ...


class Request(ABC, Generic[Answer]):
    """A request to a worker, answered with an `Answer`."""

    @abstractmethod
    def apply(self, handlers: Handlers) -> Answer:
        """Serve this request (in the worker)."""


@dataclass(frozen=True)
class Ping(Request[int]):
    """Answers the worker's pid once it has imported textworld: the worker is ready."""

    def apply(self, handlers: Handlers) -> int:
        return handlers.ping()


@dataclass(frozen=True)
class Reset(Request[Observation]):
    """Open `session_id` on the game in `game_path` (a game.tw-pddl file)."""

    session_id: str
    game_path: str
    with_expert_plan: bool
    # Longest a replan of the expert plan may take; None: no limit.
    replan_seconds: float | None = None

    def apply(self, handlers: Handlers) -> Observation:
        return handlers.reset(self)


@dataclass(frozen=True)
class Step(Request[Observation]):
    session_id: str
    action: str

    def apply(self, handlers: Handlers) -> Observation:
        return handlers.step(self)


@dataclass(frozen=True)
class Close(Request[bool]):
    """Answers whether the worker had the session."""

    session_id: str

    def apply(self, handlers: Handlers) -> bool:
        return handlers.close(self)


class Workers(Protocol):
    """What `EnvCore` needs of its workers (`pool.WorkerPool`, `inprocess.InProcessWorkers`; a
    fake one in tests)."""

    @property
    def size(self) -> int: ...

    @property
    def restarts(self) -> int:
        """Workers replaced after they died."""
        ...

    def pids(self) -> list[int]:
        """The live workers' process ids."""
        ...

    async def call(self, worker: int, request: Request[R]) -> R: ...
