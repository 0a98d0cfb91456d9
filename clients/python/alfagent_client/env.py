"""ALFWorld as gymnasium-style environments over EnvService: one session, or a batch of them.

    from alfagent_client import AlfworldEnv, BatchEnv

    with AlfworldEnv("localhost:50051", task_type="pick_and_place_simple") as env:
        observation, info = env.reset(options={"index": 3})
        observation, reward, terminated, truncated, info = env.step(info["admissible_commands"][0])

    with BatchEnv("env-0:50052,env-1:50052", 32, split="generated_eval") as batch:
        observations, infos = batch.reset()
        observations, rewards, terminated, truncated, infos = batch.step(actions)

`terminated` is ALFWorld's `won`; `truncated` is the step cap reached without a win. Observations
are text and actions are text, as in ALFWorld's own gym wrapper; the info dict carries the
admissible commands, the task, the game id, goal progress and (with `with_expert_plan`) the
remaining expert plan. Nothing here needs gymnasium installed: the classes follow its API.
"""

from __future__ import annotations

import contextlib
import functools
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeAlias

import grpc

from alfagent.env.v1 import env_pb2
from alfagent_client.errors import EnvError, SessionLost, from_rpc
from alfagent_client.replicas import Replicas

Info = dict[str, Any]
# A call in flight (grpc's future); its result is an answer message.
Call: TypeAlias = "grpc.Future[Any]"


@dataclass(frozen=True)
class Game:
    """Which game a reset plays: `game_id`, or `split` + `task_type` + `index` (the service's
    defaults: split generated_eval, any task type, index 0)."""

    game_id: str = ""
    split: str = ""
    task_type: str = ""
    index: int = 0

    def request(self, *, max_steps: int, with_expert_plan: bool) -> env_pb2.ResetRequest:
        return env_pb2.ResetRequest(
            game_id=self.game_id,
            split=self.split,
            task_type=self.task_type,
            index=self.index,
            max_steps=max_steps,
            with_expert_plan=with_expert_plan,
        )


def _reset_info(response: env_pb2.ResetResponse) -> Info:
    return {
        "session_id": response.session_id,
        "game_id": response.game.game_id,
        "task": response.game.task,
        "task_type": response.game.task_type,
        "split": response.game.split,
        "admissible_commands": list(response.admissible_commands),
        "expert_plan": list(response.expert_plan),
        "goal_progress": response.goal_progress,
        "step_index": 0,
        "won": False,
    }


def _step_info(previous: Info, response: env_pb2.StepResponse) -> Info:
    return {
        **previous,
        "admissible_commands": list(response.admissible_commands),
        "expert_plan": list(response.expert_plan),
        "goal_progress": response.goal_progress,
        "step_index": response.step_index,
        "won": response.won,
        "admissible": response.admissible,
    }


def _outcome(response: env_pb2.StepResponse) -> tuple[float, bool, bool]:
    """(reward, terminated, truncated): the env's `done` without a win is the step cap."""
    return response.reward, response.won, response.done and not response.won


class _Session:
    def __init__(self, replica: str, info: Info) -> None:
        self.replica = replica
        self.info = info
        self.finished = False


class AlfworldEnv:
    """One ALFWorld session at a time; `reset` closes the previous one."""

    def __init__(
        self,
        address: str = "localhost:50051",
        *,
        game: Game | None = None,
        split: str = "",
        task_type: str = "",
        max_steps: int = 50,
        with_expert_plan: bool = False,
        timeout_seconds: float = 120.0,
        token: str | None = None,
        ca: str | None = None,
    ) -> None:
        self.game = game or Game(split=split, task_type=task_type)
        self.max_steps = max_steps
        self.with_expert_plan = with_expert_plan
        self.timeout_seconds = timeout_seconds
        # token and ca (a CA file) default to ALFAGENT_TOKEN and ALFAGENT_TLS_CA.
        self._replicas = Replicas(address, token=token, ca=ca)
        self._session: _Session | None = None

    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None) -> tuple[str, Info]:
        """Opens a new session. `options` may name `game_id`, `split`, `task_type`, `index` (or a
        `game`); `seed` is accepted for gymnasium's sake: games are deterministic, so pick them
        with `index`."""
        self._close_session()
        game = _game(self.game, options)
        request = game.request(max_steps=self.max_steps, with_expert_plan=self.with_expert_plan)
        try:
            replica, response = self._replicas.place(
                lambda r: self._replicas.stub(r).Reset(request, timeout=self.timeout_seconds)
            )
        except grpc.RpcError as error:
            raise from_rpc(error) from None
        self._session = _Session(replica, _reset_info(response))
        return response.observation, dict(self._session.info)

    def step(self, action: str) -> tuple[str, float, bool, bool, Info]:
        session = self._require_session()
        request = env_pb2.StepRequest(session_id=session.info["session_id"], action=action)
        try:
            response = self._replicas.stub(session.replica).Step(request, timeout=self.timeout_seconds)
        except grpc.RpcError as error:
            raise from_rpc(error, session=True) from None
        session.info = _step_info(session.info, response)
        reward, terminated, truncated = _outcome(response)
        session.finished = terminated or truncated
        return response.observation, reward, terminated, truncated, dict(session.info)

    def list_games(self, split: str = "", task_type: str = "") -> list[str]:
        """Game ids the service offers (all pages)."""
        games: list[str] = []
        token = ""
        stub = self._replicas.stub(self._replicas.order()[0])
        while True:
            try:
                page = stub.ListGames(
                    env_pb2.ListGamesRequest(
                        split=split, task_type=task_type, page_size=1000, page_token=token
                    ),
                    timeout=self.timeout_seconds,
                )
            except grpc.RpcError as error:
                raise from_rpc(error) from None
            games.extend(game.game_id for game in page.games)
            token = page.next_page_token
            if not token:
                return games

    def close(self) -> None:
        self._close_session()
        self._replicas.close()

    def _require_session(self) -> _Session:
        if self._session is None:
            raise EnvError("call reset() before step()", "FAILED_PRECONDITION")
        return self._session

    def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        self._replicas.released(session.replica)
        request = env_pb2.CloseRequest(session_id=session.info["session_id"])
        # Closing is tidiness: the env expires idle sessions itself, and a lost replica is gone.
        with contextlib.suppress(grpc.RpcError):
            self._replicas.stub(session.replica).Close(request, timeout=10.0)

    def __enter__(self) -> AlfworldEnv:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class BatchEnv:
    """N sessions reset and stepped together, spread over the replicas the address names.

    Every call sends its requests together (at most `window` in flight) and waits for all
    answers, each under `timeout_seconds`: a replica that dies costs its own sessions, which
    `step` reports as lost (`infos[i]["lost"]`, `lost`), never a hang. Finished and lost slots
    are skipped by `step` until `reset` opens them again; `close` (or leaving the `with` block)
    closes every session.
    """

    def __init__(
        self,
        address: str,
        n: int,
        *,
        split: str = "",
        task_type: str = "",
        max_steps: int = 50,
        with_expert_plan: bool = False,
        timeout_seconds: float = 120.0,
        window: int = 64,
        token: str | None = None,
        ca: str | None = None,
    ) -> None:
        if n < 1:
            raise ValueError("a batch needs at least one session")
        self.n = n
        self.split = split
        self.task_type = task_type
        self.max_steps = max_steps
        self.with_expert_plan = with_expert_plan
        self.timeout_seconds = timeout_seconds
        # Calls in flight at once. 400 Resets sent at once on one channel to one env had 130
        # answered CANCELLED (grpcio 1.85.1; cause not found); 64 keep every worker busy.
        self.window = window
        self._replicas = Replicas(address, token=token, ca=ca)
        self._sessions: list[_Session | None] = [None] * n
        self._observations: list[str] = [""] * n
        self.lost: set[int] = set()

    @property
    def finished(self) -> set[int]:
        return {i for i, s in enumerate(self._sessions) if s is not None and s.finished}

    def reset(
        self, games: Sequence[Game | str] | None = None, *, slots: Sequence[int] | None = None
    ) -> tuple[list[str], list[Info]]:
        """Opens a new session in each slot (all slots unless `slots` names some), closing what
        was there. `games[i]` is slot i's game (a Game or a game id); by default slot i plays game
        index i of the batch's split and task type. Answers every slot's observation and info."""
        slots = list(range(self.n)) if slots is None else list(slots)
        chosen = [self._game_for(slot, games) for slot in slots]
        self._close_slots(slots)
        self._replicas.refresh()
        requests = [
            game.request(max_steps=self.max_steps, with_expert_plan=self.with_expert_plan) for game in chosen
        ]
        assigned: list[str] = []

        def starter(request: env_pb2.ResetRequest) -> Callable[[], Call]:
            def start() -> Call:
                replica = self._replicas.order()[0]
                # Counted before the answer, so the next slot sees this one's load.
                self._replicas.held(replica)
                assigned.append(replica)
                return self._replicas.stub(replica).Reset.future(request, timeout=self.timeout_seconds)

            return start

        outcomes = _windowed([starter(request) for request in requests], self.window)
        pending = zip(slots, assigned, requests, outcomes, strict=True)
        fatal: EnvError | None = None
        # Every answer is collected before any error is raised, so no session opened by this
        # call is left behind unclosed.
        for slot, replica, request, outcome in pending:
            if isinstance(outcome, grpc.RpcError):
                error = outcome
                self._replicas.released(replica)
                if error.code() == grpc.StatusCode.UNAVAILABLE:
                    self._replicas.lost(replica)
                retry = error.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
                if fatal is not None or not retry:
                    fatal = fatal or from_rpc(error)
                    continue
                try:
                    replica, response = self._replicas.place(self._resetter(request))
                except grpc.RpcError as again:
                    fatal = from_rpc(again)
                    continue
            else:
                response = outcome
            self._sessions[slot] = _Session(replica, _reset_info(response))
            self._observations[slot] = response.observation
            self.lost.discard(slot)
        if fatal is not None:
            self._close_slots(slots)
            raise fatal
        return list(self._observations), self.infos()

    def step(
        self, actions: Sequence[str | None]
    ) -> tuple[list[str], list[float], list[bool], list[bool], list[Info]]:
        """Steps every live slot whose action is not None, all at once. Slots that are finished,
        lost or not stepped keep their observation, reward 0 and their last flags."""
        if len(actions) != self.n:
            raise ValueError(f"{len(actions)} actions for a batch of {self.n}")
        rewards = [0.0] * self.n
        terminated = [False] * self.n
        truncated = [False] * self.n
        for slot, session in enumerate(self._sessions):
            if session is not None and session.finished:
                terminated[slot] = bool(session.info["won"])
                truncated[slot] = not terminated[slot]
        stepped: list[tuple[int, _Session]] = []
        starts: list[Callable[[], Call]] = []
        for slot, (session, action) in enumerate(zip(self._sessions, actions, strict=True)):
            if session is None or session.finished or slot in self.lost or action is None:
                continue
            request = env_pb2.StepRequest(session_id=session.info["session_id"], action=action)
            stepped.append((slot, session))
            starts.append(
                functools.partial(
                    self._replicas.stub(session.replica).Step.future, request, timeout=self.timeout_seconds
                )
            )
        fatal: EnvError | None = None
        # Every answer is taken in before an error is raised, so every slot's state stays true.
        for (slot, session), outcome in zip(stepped, _windowed(starts, self.window), strict=True):
            if isinstance(outcome, grpc.RpcError):
                failure = from_rpc(outcome, session=True)
                if isinstance(failure, SessionLost):
                    self._lose(slot, session, failure)
                else:
                    fatal = fatal or failure
                continue
            session.info = _step_info(session.info, outcome)
            rewards[slot], terminated[slot], truncated[slot] = _outcome(outcome)
            session.finished = terminated[slot] or truncated[slot]
            self._observations[slot] = outcome.observation
        if fatal is not None:
            raise fatal
        return list(self._observations), rewards, terminated, truncated, self.infos()

    def _resetter(self, request: env_pb2.ResetRequest) -> Callable[[str], env_pb2.ResetResponse]:
        def reset(replica: str) -> env_pb2.ResetResponse:
            response: env_pb2.ResetResponse = self._replicas.stub(replica).Reset(
                request, timeout=self.timeout_seconds
            )
            return response

        return reset

    def infos(self) -> list[Info]:
        infos: list[Info] = []
        for slot, session in enumerate(self._sessions):
            info = dict(session.info) if session is not None else {}
            info["lost"] = slot in self.lost
            infos.append(info)
        return infos

    def close(self) -> None:
        self._close_slots(range(self.n))
        self._replicas.close()

    def _lose(self, slot: int, session: _Session, failure: SessionLost) -> None:
        self.lost.add(slot)
        session.info = {**session.info, "error": str(failure)}
        if failure.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
            self._replicas.lost(session.replica)

    def _game_for(self, slot: int, games: Sequence[Game | str] | None) -> Game:
        if games is None:
            return Game(split=self.split, task_type=self.task_type, index=slot)
        game = games[slot]
        return Game(game_id=game) if isinstance(game, str) else game

    def _close_slots(self, slots: Sequence[int] | range) -> None:
        calls = []
        for slot in slots:
            session, self._sessions[slot] = self._sessions[slot], None
            if session is None:
                continue
            self._replicas.released(session.replica)
            if slot in self.lost:
                continue  # its replica is gone: nothing to close, and no reason to wait on it
            request = env_pb2.CloseRequest(session_id=session.info["session_id"])
            calls.append(self._replicas.stub(session.replica).Close.future(request, timeout=10.0))
        for call in calls:
            # Tidiness only: the env expires idle sessions itself.
            with contextlib.suppress(grpc.RpcError):
                call.result()

    def __enter__(self) -> BatchEnv:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _windowed(starts: Sequence[Callable[[], Call]], window: int) -> list[Any]:
    """Runs the calls `starts` begin, at most `window` in flight; answers each one's result or
    its grpc.RpcError, in order."""
    results: list[Any] = [None] * len(starts)
    pending: deque[tuple[int, Call]] = deque()

    def settle() -> None:
        index, future = pending.popleft()
        try:
            results[index] = future.result()
        except grpc.RpcError as error:
            results[index] = error

    for index, start in enumerate(starts):
        if len(pending) >= max(1, window):
            settle()
        pending.append((index, start()))
    while pending:
        settle()
    return results


def _game(default: Game, options: Mapping[str, Any] | None) -> Game:
    if not options:
        return default
    game = options.get("game")
    if isinstance(game, Game):
        return game
    return Game(
        game_id=str(options.get("game_id", default.game_id)),
        split=str(options.get("split", default.split)),
        task_type=str(options.get("task_type", default.task_type)),
        index=int(options.get("index", default.index)),
    )
