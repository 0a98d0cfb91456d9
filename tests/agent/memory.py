"""In-memory stand-ins for the env and the store, at the agent's I/O boundary.

They follow the services' contracts (won/done, the step cap, an idempotent store keyed by
trajectory id) on a one-line game: playing PLAN in order wins; anything else is "Nothing
happens.". Shared by the episode-loop tests and the LLM-policy tests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agent_service.episode import EpisodeOutcome, EpisodeRecord, EpisodeRequest, GameRef
from agent_service.runner import EnvSession, EnvState
from alfagent_common import errors

TASK = "put a pencil in shelf."
PLAN = ("go to desk 1", "take pencil 1 from desk 1", "go to shelf 1", "move pencil 1 to shelf 1")
OPENING = (
    "You are in the middle of a room. Looking around you, you see a desk 1 and a shelf 1.\n\n"
    f"Your task is to: {TASK}"
)


@dataclass
class LineGame:
    game: GameRef
    max_steps: int
    progress: int = 0
    steps: int = 0

    def state(self, observation: str, admissible: bool = True) -> EnvState:
        won = self.progress == len(PLAN)
        return EnvState(
            observation=observation,
            admissible_commands=("look", "inventory", *PLAN[self.progress : self.progress + 1]),
            expert_plan=PLAN[self.progress :],
            goal_progress=self.progress / len(PLAN),
            won=won,
            done=won or (self.max_steps > 0 and self.steps >= self.max_steps),
            admissible=admissible,
        )


@dataclass
class MemoryEnv:
    # How many generated_train games exist (the LLM policy builds few-shot examples from them).
    train_games: int = 3
    # Raise as a crashed worker would on this step of every session (0: never).
    fail_at_step: int = 0
    sessions: dict[str, LineGame] = field(default_factory=dict)
    resets: list[EpisodeRequest] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    # Actions taken in evaluation games (not in the train games few-shot examples are made from).
    steps: list[str] = field(default_factory=list)
    # How long a reset takes (an await, so that concurrent episodes interleave there).
    reset_seconds: float = 0.01

    async def reset(self, request: EpisodeRequest, *, with_expert_plan: bool) -> EnvSession:
        self.resets.append(request)
        await asyncio.sleep(self.reset_seconds)
        if request.game_id:
            split, task_dir = request.game_id.split("/")[:2]
            task_type = task_dir.split("-")[0]
            game_id = request.game_id
        else:
            split = request.split or "generated_eval"
            task_type = request.task_type or "pick_and_place_simple"
            game_id = f"{split}/{task_type}-Pencil-None-Shelf-{request.index}/trial_T0"
        if split == "generated_train" and request.index >= self.train_games:
            raise errors.InvalidRequest(f"index {request.index} is out of range")
        session_id = f"s{len(self.sessions)}"
        game = GameRef(game_id, split, task_type, TASK, "generated")
        self.sessions[session_id] = LineGame(game, request.settings.max_steps)
        return EnvSession(session_id, game, self.sessions[session_id].state(OPENING))

    async def step(self, session_id: str, action: str) -> EnvState:
        game = self.sessions[session_id]
        game.steps += 1
        if self.fail_at_step and game.steps == self.fail_at_step:
            raise errors.Aborted("env worker crashed")
        if game.game.split != "generated_train":
            self.steps.append(action)
        if game.progress < len(PLAN) and action == PLAN[game.progress]:
            game.progress += 1
            return game.state(f"You did it: {action}.")
        return game.state("Nothing happens.", admissible=action in ("look", "inventory"))

    async def close(self, session_id: str) -> None:
        self.closed.append(session_id)


@dataclass
class MemoryStore:
    stored: dict[str, EpisodeRecord] = field(default_factory=dict)

    async def save(self, record: EpisodeRecord) -> bool:
        created = record.trajectory_id not in self.stored
        self.stored.setdefault(record.trajectory_id, record)
        return created

    async def find(self, trajectory_id: str) -> EpisodeOutcome | None:
        record = self.stored.get(trajectory_id)
        return record.outcome() if record else None
