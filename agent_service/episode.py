"""Plain-Python records of an episode as the loop sees it."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from agent_service.settings import EpisodeSettings
from agent_service.skills.library import SkillLibrary
from alfagent_common.versions import GameVersions


class PolicyKind(enum.Enum):
    LLM = "LLM"
    EXPERT = "EXPERT"
    RANDOM = "RANDOM"


class EndReason(enum.Enum):
    WON = "WON"
    STEP_LIMIT = "STEP_LIMIT"
    LLM_ERROR = "LLM_ERROR"
    ENV_ERROR = "ENV_ERROR"
    TOKEN_BUDGET = "TOKEN_BUDGET"
    CANCELLED = "CANCELLED"
    REPEATED_ACTION = "REPEATED_ACTION"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Prompt tokens the server took from its prompt cache instead of processing them (0 when the
    # server does not say).
    cached_prompt_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_prompt_tokens + other.cached_prompt_tokens,
        )


@dataclass(frozen=True)
class GameRef:
    game_id: str
    split: str
    task_type: str
    task: str
    source: str  # "official" | "generated"


@dataclass(frozen=True)
class EpisodeRequest:
    """One episode to play: the game, the policy and its settings (defaults already filled in)."""

    policy: PolicyKind
    settings: EpisodeSettings = field(default_factory=EpisodeSettings)
    # Game selection: game_id, or (split, task_type, index).
    game_id: str = ""
    split: str = ""
    task_type: str = ""
    index: int = 0
    run_id: str = ""
    attempt: int = 0
    # SHA-256 of the model file the endpoint serves, when it says (a llama-server; see
    # agent_service/llm/served_model.py).
    model_sha256: str = ""
    # The library `settings.skill_library` names, read from the store at the edge.
    skills: SkillLibrary | None = None

    def is_seen_game(self, game_id: str) -> bool:
        """Whether `game_id` is one of the games the skill library was made from."""
        return self.skills is not None and game_id in self.skills.source_game_ids


@dataclass(frozen=True)
class Decision:
    """What a policy chose for one turn."""

    action: str
    thought: str = ""
    raw_output: str = ""
    grounding: str = "policy"
    usage: Usage = Usage()
    retries: int = 0
    # One entry per retried LLM call: "429", "500", "timeout", "connection", ...
    retry_causes: tuple[str, ...] = ()
    llm_latency_ms: float = 0.0
    # Older turns left out of this turn's prompt to fit the model's context.
    dropped_turns: int = 0
    # The skill library's entries the prompt showed for this turn.
    skills_shown: tuple[str, ...] = ()
    # The procedure call this command belongs to ("" for a command the policy chose itself).
    skill: str = ""


@dataclass(frozen=True)
class StepRecord:
    index: int
    decision: Decision
    observation: str
    won: bool
    done: bool
    goal_progress: float
    admissible: bool
    admissible_commands: tuple[str, ...]
    env_latency_ms: float
    latency_ms: float


@dataclass(frozen=True)
class EpisodeOutcome:
    """What an episode came to: the answer to RunEpisode and one row of an evaluation."""

    trajectory_id: str
    run_id: str
    game: GameRef
    won: bool
    end_reason: EndReason
    steps: int
    goal_progress: float
    usage: Usage
    duration_ms: int
    error: str = ""
    # True when the store already held this trajectory id (a re-sent or resumed episode).
    resumed: bool = False


@dataclass
class EpisodeRecord:
    trajectory_id: str
    run_id: str
    request: EpisodeRequest
    game: GameRef
    initial_observation: str
    initial_admissible_commands: tuple[str, ...]
    started_at: float
    finished_at: float = 0.0
    steps: list[StepRecord] = field(default_factory=list)
    # What the env that played the game reported at reset (not this process's packages).
    env_versions: GameVersions = field(default_factory=GameVersions)
    won: bool = False
    end_reason: EndReason = EndReason.STEP_LIMIT
    error: str = ""
    # Played on a game the skill library was made from (the request allowed it).
    seen_game: bool = False
    # Retries of a final LLM call that never produced a step (the episode ended on it).
    failed_call_retry_causes: tuple[str, ...] = ()
    # Tokens that turn spent before it failed (e.g. its think calls).
    failed_call_usage: Usage = Usage()

    @property
    def retry_causes(self) -> dict[str, int]:
        causes = [cause for step in self.steps for cause in step.decision.retry_causes]
        return dict(Counter([*causes, *self.failed_call_retry_causes]))

    @property
    def dropped_turns(self) -> int:
        return max((step.decision.dropped_turns for step in self.steps), default=0)

    @property
    def usage(self) -> Usage:
        total = self.failed_call_usage
        for step in self.steps:
            total = total + step.decision.usage
        return total

    @property
    def goal_progress(self) -> float:
        return self.steps[-1].goal_progress if self.steps else 0.0

    @property
    def duration_ms(self) -> int:
        return int((self.finished_at - self.started_at) * 1000)

    def outcome(self, *, resumed: bool = False) -> EpisodeOutcome:
        return EpisodeOutcome(
            trajectory_id=self.trajectory_id,
            run_id=self.run_id,
            game=self.game,
            won=self.won,
            end_reason=self.end_reason,
            steps=len(self.steps),
            goal_progress=self.goal_progress,
            usage=self.usage,
            duration_ms=self.duration_ms,
            error=self.error,
            resumed=resumed,
        )
