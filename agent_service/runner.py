"""The episode loop: reset, ask the policy, step, record, until won or out of steps.

No grpc here: the environment and the store are reached through the small `EnvGateway` and
`TrajectorySink` protocols, which the service wires to its gRPC clients and tests may wire to
anything. Whatever happens (won, step cap, LLM or env failure, the caller going away) the env
session is closed and the trajectory is stored before the loop returns or re-raises. What it
plays is told to an `EpisodeObserver` (the service's metrics, agent_service/metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from agent_service.episode import (
    Decision,
    EndReason,
    EpisodeOutcome,
    EpisodeRecord,
    EpisodeRequest,
    GameRef,
    PolicyKind,
    StepRecord,
)
from agent_service.policies import NoExpertPlan, Policy, PolicyError, Turn, TurnView
from alfagent_common import errors
from alfagent_common.logs import bind
from alfagent_common.versions import GameVersions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnvState:
    observation: str
    admissible_commands: tuple[str, ...]
    expert_plan: tuple[str, ...]
    goal_progress: float
    won: bool = False
    done: bool = False
    admissible: bool = True


@dataclass(frozen=True)
class EnvSession:
    session_id: str
    game: GameRef
    state: EnvState
    # The game engine the env plays this session with, as the env reported it.
    versions: GameVersions = field(default_factory=GameVersions)


class EnvGateway(Protocol):
    async def reset(self, request: EpisodeRequest, *, with_expert_plan: bool) -> EnvSession: ...

    async def step(self, session_id: str, action: str) -> EnvState: ...

    async def close(self, session_id: str) -> None: ...


class TrajectorySink(Protocol):
    async def save(self, record: EpisodeRecord) -> bool:
        """Stores the trajectory durably; False when the id was already stored."""
        ...

    async def find(self, trajectory_id: str) -> EpisodeOutcome | None:
        """The stored episode with this id, if any."""
        ...


class EpisodeObserver(Protocol):
    """What the runner tells about the episodes it plays, as they play."""

    def playing(self, request: EpisodeRequest) -> AbstractContextManager[None]:
        """Entered from the reset until the episode is stored (or fails to start)."""
        ...

    def decided(self, request: EpisodeRequest, decision: Decision) -> None:
        """The policy chose an action (what it cost: tokens, retries)."""
        ...

    def stepped(self, request: EpisodeRequest, step: StepRecord) -> None:
        """A step was played."""
        ...

    def ended(self, record: EpisodeRecord) -> None:
        """The episode ended (`end_reason` set), before it is stored."""
        ...


class Unobserved:
    """The observer of a runner nobody watches."""

    def playing(self, request: EpisodeRequest) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def decided(self, request: EpisodeRequest, decision: Decision) -> None:
        pass

    def stepped(self, request: EpisodeRequest, step: StepRecord) -> None:
        pass

    def ended(self, record: EpisodeRecord) -> None:
        pass


PolicyFactory = Callable[[EpisodeRequest], Policy]
StepListener = Callable[[EpisodeRecord, StepRecord | None], Awaitable[None]]


def trajectory_id_for(run_id: str, game_id: str, attempt: int) -> str:
    """Deterministic, so a resumed evaluation re-creates exactly the ids it already stored."""
    digest = hashlib.sha256(f"{run_id}\x1f{game_id}\x1f{attempt}".encode()).hexdigest()
    return f"t-{digest[:32]}"


def seen_game_refused(game_id: str, library_id: str) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(
        f"game {game_id} is one the skill library {library_id} was made from: a result on it would "
        "not be a result on an unseen game; choose another game or library, or set "
        "settings.allow_seen_games (the trajectory is then marked seen_game)"
    )


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


class EpisodeRunner:
    def __init__(
        self,
        env: EnvGateway,
        sink: TrajectorySink,
        make_policy: PolicyFactory,
        observer: EpisodeObserver | None = None,
    ) -> None:
        self._env = env
        self._sink = sink
        self._make_policy = make_policy
        self._observer: EpisodeObserver = observer or Unobserved()

    async def run(self, request: EpisodeRequest, listener: StepListener | None = None) -> EpisodeOutcome:
        """Plays one episode and stores it; `resumed` says the store already held its id."""
        with self._observer.playing(request):
            return await self._run(request, listener)

    async def _run(self, request: EpisodeRequest, listener: StepListener | None) -> EpisodeOutcome:
        run_id = request.run_id or new_run_id()
        policy = self._make_policy(request)
        session = await self._env.reset(request, with_expert_plan=policy.needs_expert_plan)
        seen = request.is_seen_game(session.game.game_id)
        if seen and not request.settings.allow_seen_games:
            await self._env.close(session.session_id)
            raise seen_game_refused(session.game.game_id, request.settings.skill_library)
        record = EpisodeRecord(
            trajectory_id=trajectory_id_for(run_id, session.game.game_id, request.attempt),
            run_id=run_id,
            request=request,
            game=session.game,
            initial_observation=session.state.observation,
            initial_admissible_commands=session.state.admissible_commands,
            started_at=time.time(),
            env_versions=session.versions,
            seen_game=seen,
        )
        with bind(run_id=run_id, trajectory_id=record.trajectory_id, session_id=session.session_id):
            try:
                if listener is not None:
                    await listener(record, None)
                await self._play(record, policy, session, listener)
            except asyncio.CancelledError:
                record.end_reason = EndReason.CANCELLED
                await asyncio.shield(self._finish(record, session.session_id))
                raise
            created = await self._finish(record, session.session_id)
            return record.outcome(resumed=not created)

    async def _play(
        self, record: EpisodeRecord, policy: Policy, session: EnvSession, listener: StepListener | None
    ) -> None:
        request = record.request
        settings = request.settings
        state = session.state
        history: list[Turn] = []
        for _ in range(settings.max_steps):
            view = TurnView(
                task_type=record.game.task_type,
                task=record.game.task,
                initial_observation=record.initial_observation,
                history=tuple(history),
                admissible_commands=state.admissible_commands,
                expert_plan=state.expert_plan,
            )
            started = time.perf_counter()
            try:
                decision: Decision = await policy.decide(view)
            except PolicyError as error:
                record.failed_call_retry_causes = error.retry_causes
                record.failed_call_usage = error.usage
                return self._end(record, EndReason.LLM_ERROR, str(error))
            except NoExpertPlan as error:
                return self._end(record, EndReason.ENV_ERROR, str(error))
            except Exception as error:
                # A bug in a policy must not lose the episode or leak the env session: end it,
                # keep the traceback in the log, and store what was played.
                log.exception("the policy failed unexpectedly")
                reason = EndReason.LLM_ERROR if request.policy is PolicyKind.LLM else EndReason.ENV_ERROR
                return self._end(record, reason, f"policy failed: {type(error).__name__}: {error}")
            self._observer.decided(request, decision)
            env_started = time.perf_counter()
            try:
                next_state = await self._env.step(session.session_id, decision.action)
            except errors.AlfagentError as error:
                return self._end(record, EndReason.ENV_ERROR, str(error))
            finished = time.perf_counter()
            step = StepRecord(
                index=len(record.steps) + 1,
                decision=decision,
                observation=next_state.observation,
                won=next_state.won,
                done=next_state.done,
                goal_progress=next_state.goal_progress,
                admissible=next_state.admissible,
                admissible_commands=state.admissible_commands,
                env_latency_ms=(finished - env_started) * 1000,
                latency_ms=(finished - started) * 1000,
            )
            record.steps.append(step)
            self._observer.stepped(request, step)
            history.append(Turn(decision.action, next_state.observation))
            state = next_state
            if listener is not None:
                await listener(record, step)
            if state.won:
                record.won = True
                return self._end(record, EndReason.WON)
            if settings.token_budget and record.usage.total_tokens >= settings.token_budget:
                return self._end(record, EndReason.TOKEN_BUDGET, f"used {record.usage.total_tokens} tokens")
            if _repeats_last_action(history, settings.max_repeated_actions):
                return self._end(
                    record, EndReason.REPEATED_ACTION, f"{settings.max_repeated_actions} identical actions"
                )
            if state.done:
                break
        self._end(record, EndReason.STEP_LIMIT)

    @staticmethod
    def _end(record: EpisodeRecord, reason: EndReason, error: str = "") -> None:
        record.end_reason = reason
        record.error = error

    async def _finish(self, record: EpisodeRecord, session_id: str) -> bool:
        record.finished_at = time.time()
        self._observer.ended(record)
        try:
            await self._env.close(session_id)
        except errors.AlfagentError as error:
            # The trajectory matters more than a session the env will expire anyway.
            log.warning("closing the env session failed", extra={"error": str(error)})
        created = await self._sink.save(record)
        log.info(
            "episode finished",
            extra={"won": record.won, "end_reason": record.end_reason.value, "steps": len(record.steps)},
        )
        return created


def _repeats_last_action(history: list[Turn], limit: int) -> bool:
    if limit <= 0 or len(history) < limit:
        return False
    last = history[-1].action
    return all(turn.action == last for turn in history[-limit:])
