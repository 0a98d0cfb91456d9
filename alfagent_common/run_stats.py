"""The statistics of runs: the one home of every figure computed over stored trajectories (no grpc).

The agent's evaluation summary, the store's GetStats, the report and bench_llm all count with
this module, so a run's success rate is the same number wherever it is read.

- **Which episodes count** (the attempt rule). An episode the harness cut short (the agent was
  stopped, the env or the model endpoint failed for good: `PLAYED_AGAIN_ON_RESUME`) says nothing
  about the policy; resuming its run plays the game again under the next attempt number, and from
  then on the later attempt stands for the game. The interrupted episode stays stored and listed
  but is counted nowhere. Any other episode counts, a deliberate second attempt included.
  `superseded` applies the rule to a run's episodes at once, `Attempts` one episode at a time
  (the store's running sums).
- **Success**: per task type and overall, with 95% Wilson intervals, mean steps, mean goal
  progress and tokens (`success_by_task_type`; the rows carry the field names of
  `alfagent.trajectory.v1.TaskTypeStats`); end reasons.
- **Behaviour** (`behaviour`): commands not admissible as written, repeat streaks (one identical
  command sent again and again), model calls and tokens per step.
- **Two runs compared** (`paired_games`): each game both played, won in one, the other, both or
  neither, and the exact McNemar p-value of the difference (`mcnemar_exact`).

Episodes come in as `Episode` records, built at the edge from a `Trajectory` message
(`episode_of`) or from its proto3 JSON mapping as the store's lines and bench files hold it
(`episode_of_document`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Generic, Protocol, TypeVar

from alfagent.trajectory.v1 import trajectory_pb2

ALL_TASK_TYPES = "all"
# End reasons (EndReason names) of episodes that a resume plays again. LLM_ERROR is here too:
# after the bounded retries it means the endpoint stayed unreachable or kept failing, which a
# resume after fixing the endpoint should not count against the policy.
PLAYED_AGAIN_ON_RESUME = frozenset({"CANCELLED", "ENV_ERROR", "LLM_ERROR"})
# An episode "repeats" when it sent one command this many times in a row (the comparison's repeat
# rate); bench_llm also reports 5 and 10.
REPEAT_STREAK = 3

T = TypeVar("T")


# -- which episodes count ---------------------------------------------------------------------


def is_played_again_on_resume(end_reason: str) -> bool:
    return end_reason in PLAYED_AGAIN_ON_RESUME


class Attempts(Generic[T]):
    """The attempt rule, one episode at a time, in any order of arrival.

    `add` says whether the new episode counts and which episodes counted so far it replaces.
    Games are told apart by `scope` (e.g. the run id) and game id. Only games with an attempt
    above 0 or a played-again episode (the few a resume touches) are remembered, so keeping one
    for every stored episode costs next to nothing. An episode without a game id always counts.
    """

    def __init__(self) -> None:
        # Games whose highest attempt so far is above 0.
        self._latest: dict[tuple[Hashable, str], int] = {}
        # Played-again episodes that count until a later attempt of their game arrives.
        self._replaceable: dict[tuple[Hashable, str], list[T]] = {}

    def add(
        self, game_id: str, attempt: int, end_reason: str, item: T, scope: Hashable = None
    ) -> tuple[bool, list[T]]:
        if not game_id:
            return True, []
        game = (scope, game_id)
        latest = self._latest.get(game, 0)
        replaced: list[T] = []
        if attempt > latest:
            # Everything kept as replaceable has an attempt <= the old latest < this one.
            replaced = self._replaceable.pop(game, [])
            self._latest[game] = latest = attempt
        played_again = is_played_again_on_resume(end_reason)
        if played_again and attempt < latest:
            return False, replaced
        if played_again:
            self._replaceable.setdefault(game, []).append(item)
        return True, replaced


class Attempted(Protocol):
    @property
    def trajectory_id(self) -> str: ...
    @property
    def game_id(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def end_reason(self) -> str: ...


def superseded(episodes: Iterable[Attempted]) -> set[str]:
    """The trajectory ids of one run's episodes that a later attempt of their game replaces."""
    attempts: Attempts[str] = Attempts()
    replaced: set[str] = set()
    for e in episodes:
        counts, older = attempts.add(e.game_id, e.attempt, e.end_reason, e.trajectory_id)
        replaced.update(older)
        if not counts:
            replaced.add(e.trajectory_id)
    return replaced


A = TypeVar("A", bound=Attempted)


def counted(episodes: Sequence[A]) -> list[A]:
    """One run's episodes less those a later attempt replaces, in their order."""
    replaced = superseded(episodes)
    return [episode for episode in episodes if episode.trajectory_id not in replaced]


# -- intervals and tests ------------------------------------------------------------------------


def wilson_interval(wins: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate `wins / n` (z=1.96: 95%).

    Unlike the normal approximation it stays inside [0, 1] and is sensible for small `n` and for
    rates of 0 or 1, which is what small evaluations produce. With no episodes (`n == 0`) nothing is
    known, so the interval is the whole range (0.0, 1.0).
    """
    if n < 0 or wins < 0 or wins > n:
        raise ValueError(f"need 0 <= wins <= n, got wins={wins}, n={n}")
    if z <= 0:
        raise ValueError(f"z must be positive, got {z}")
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denominator
    # Clamp away rounding noise (e.g. 1.0000000000000002) at the ends.
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def mcnemar_exact(b: int, c: int) -> float:
    """The two-sided exact McNemar p-value of `b` games won only in one run and `c` only in the other.

    Under "the runs are equally good" each of the n = b + c discordant games is won by either run
    with probability 1/2, so the smaller count is Binomial(n, 1/2): p = 2 * P(X <= min(b, c)),
    capped at 1, and 1 with no discordant game. Games both runs won or both lost say nothing about
    the difference and do not enter. Computed exactly (integers), then rounded once to a float.
    """
    if b < 0 or c < 0:
        raise ValueError(f"need counts >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return float(min(Fraction(2 * tail, 2**n), Fraction(1)))


# -- episodes -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Episode:
    """What the statistics need of one stored episode.

    `actions`, `not_admissible` and `model_calls` are known only for an episode read from its
    trajectory (`episode_of`, `episode_of_document`); built from an outcome they stay empty.
    """

    game_id: str
    task_type: str
    won: bool
    # An EndReason name ("WON", "STEP_LIMIT", ...).
    end_reason: str
    steps: int
    goal_progress: float
    prompt_tokens: int
    completion_tokens: int
    trajectory_id: str = ""
    attempt: int = 0
    # The command sent at each step.
    actions: tuple[str, ...] = ()
    # Steps whose command was not one of the admissible commands ("Nothing happens.").
    not_admissible: int = 0
    model_calls: int = 0


def step_model_calls(asked: bool, thought: str, raw_output: str, skill: str) -> int:
    """The model's calls for one step: one for the command, one per thought (thoughts are stored
    joined by "\\n"). None for a step no model was asked for: EXPERT and RANDOM episodes, and the
    commands of a skill after its call (recorded with the skill and no model output). Retried calls
    are not counted here (the trajectory's `retry_causes` has them)."""
    if not asked or (skill and not raw_output):
        return 0
    return 1 + sum(1 for line in thought.split("\n") if line)


def end_reason_name(value: int | str) -> str:
    """An EndReason name; a number a newer writer used stays its number, as a string."""
    if isinstance(value, str):
        return value
    try:
        return trajectory_pb2.EndReason.Name(trajectory_pb2.EndReason.ValueType(value))
    except ValueError:
        return str(value)


def episode_of(trajectory: trajectory_pb2.Trajectory) -> Episode:
    asked = trajectory.policy == trajectory_pb2.LLM
    steps = trajectory.steps
    return Episode(
        game_id=trajectory.game.game_id,
        task_type=trajectory.game.task_type,
        won=trajectory.won,
        end_reason=end_reason_name(trajectory.end_reason),
        steps=len(steps),
        goal_progress=trajectory.goal_progress,
        prompt_tokens=trajectory.usage.prompt_tokens,
        completion_tokens=trajectory.usage.completion_tokens,
        trajectory_id=trajectory.trajectory_id,
        attempt=trajectory.attempt,
        actions=tuple(step.action for step in steps),
        not_admissible=sum(not step.admissible for step in steps),
        model_calls=sum(step_model_calls(asked, s.thought, s.raw_output, s.skill) for s in steps),
    )


def episode_of_document(document: Mapping[str, Any]) -> Episode:
    """The same as `episode_of`, from the trajectory's proto3 JSON mapping (proto field names),
    where a field at its default is left out."""
    game = document.get("game", {})
    usage = document.get("usage", {})
    steps = document.get("steps", [])
    asked = document.get("policy") in ("LLM", trajectory_pb2.LLM)
    return Episode(
        game_id=game.get("game_id", ""),
        task_type=game.get("task_type", ""),
        won=bool(document.get("won", False)),
        end_reason=end_reason_name(document.get("end_reason", "END_REASON_UNSPECIFIED")),
        steps=len(steps),
        goal_progress=float(document.get("goal_progress", 0.0)),
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        trajectory_id=document.get("trajectory_id", ""),
        attempt=int(document.get("attempt", 0)),
        actions=tuple(step.get("action", "") for step in steps),
        not_admissible=sum(not step.get("admissible", False) for step in steps),
        model_calls=sum(
            step_model_calls(asked, s.get("thought", ""), s.get("raw_output", ""), s.get("skill", ""))
            for s in steps
        ),
    )


# -- repeat streaks -----------------------------------------------------------------------------


def identical_runs(actions: Sequence[str]) -> list[tuple[int, int]]:
    """(first step number, length) of each run of one command sent at consecutive steps."""
    runs: list[tuple[int, int]] = []
    for number, action in enumerate(actions, start=1):
        if runs and action == actions[number - 2]:
            start, length = runs[-1]
            runs[-1] = (start, length + 1)
        else:
            runs.append((number, 1))
    return runs


def streak_end(actions: Sequence[str], length: int) -> int:
    """The number of steps after which one command had been sent `length` times in a row (where a
    repeated-action limit of `length` would end the episode), or 0 if it never was."""
    return next((start + length - 1 for start, run in identical_runs(actions) if run >= length), 0)


def longest_streak(actions: Sequence[str]) -> int:
    """The most times one command was sent in a row (0 for no step)."""
    return max((run for _, run in identical_runs(actions)), default=0)


# -- success ------------------------------------------------------------------------------------


class Counted(Protocol):
    """What success statistics read of an episode (an `Episode`, the store's `RecordMeta`)."""

    @property
    def won(self) -> bool: ...
    @property
    def steps(self) -> int: ...
    @property
    def goal_progress(self) -> float: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...


@dataclass(slots=True)
class Tally:
    """Running sums of a set of episodes; `summary_row` turns them into rates."""

    episodes: int = 0
    wins: int = 0
    steps: int = 0
    goal_progress: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, episode: Counted) -> None:
        self.episodes += 1
        self.wins += episode.won
        self.steps += episode.steps
        self.goal_progress += episode.goal_progress
        self.prompt_tokens += episode.prompt_tokens
        self.completion_tokens += episode.completion_tokens

    def remove(self, episode: Counted) -> None:
        """Takes back an `add` (an episode a later attempt replaced)."""
        self.episodes -= 1
        self.wins -= episode.won
        self.steps -= episode.steps
        self.goal_progress -= episode.goal_progress
        self.prompt_tokens -= episode.prompt_tokens
        self.completion_tokens -= episode.completion_tokens

    def merge(self, other: Tally) -> None:
        self.episodes += other.episodes
        self.wins += other.wins
        self.steps += other.steps
        self.goal_progress += other.goal_progress
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens

    def copy(self) -> Tally:
        copy = Tally()
        copy.merge(self)
        return copy


@dataclass(frozen=True)
class TaskTypeSummary:
    """One row of success statistics; the fields of `alfagent.trajectory.v1.TaskTypeStats`."""

    task_type: str
    episodes: int
    wins: int
    success_rate: float
    success_ci_low: float
    success_ci_high: float
    mean_steps: float
    mean_goal_progress: float
    prompt_tokens: int
    completion_tokens: int


def summary_row(task_type: str, tally: Tally) -> TaskTypeSummary:
    n = tally.episodes
    low, high = wilson_interval(tally.wins, n)
    return TaskTypeSummary(
        task_type=task_type,
        episodes=n,
        wins=tally.wins,
        success_rate=tally.wins / n if n else 0.0,
        success_ci_low=low,
        success_ci_high=high,
        mean_steps=tally.steps / n if n else 0.0,
        mean_goal_progress=tally.goal_progress / n if n else 0.0,
        prompt_tokens=tally.prompt_tokens,
        completion_tokens=tally.completion_tokens,
    )


class Typed(Counted, Protocol):
    @property
    def task_type(self) -> str: ...


def success_by_task_type(episodes: Iterable[Typed]) -> tuple[list[TaskTypeSummary], TaskTypeSummary]:
    """One row per task type (sorted) and the row of every episode (task type "all").

    Give it counted episodes (`counted`): it counts whatever it is given."""
    by_type: dict[str, Tally] = {}
    overall = Tally()
    for episode in episodes:
        by_type.setdefault(episode.task_type, Tally()).add(episode)
        overall.add(episode)
    rows = [summary_row(task_type, by_type[task_type]) for task_type in sorted(by_type)]
    return rows, summary_row(ALL_TASK_TYPES, overall)


def end_reasons(episodes: Iterable[Episode]) -> dict[str, int]:
    """Episodes by end reason, in the order each reason first appears."""
    return dict(Counter(episode.end_reason for episode in episodes))


# -- behaviour ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """How a run's episodes played, beyond winning: read from their steps."""

    episodes: int
    steps: int
    # Steps whose command was not admissible as written.
    not_admissible: int
    # Episodes that sent one command `repeat_streak` or more times in a row.
    repeat_streak: int
    repeated: int
    # The most times one command was sent in a row, over every episode.
    longest_streak: int
    model_calls: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def not_admissible_rate(self) -> float:
        return self.not_admissible / self.steps if self.steps else 0.0

    @property
    def repeat_rate(self) -> float:
        return self.repeated / self.episodes if self.episodes else 0.0

    @property
    def model_calls_per_step(self) -> float:
        return self.model_calls / self.steps if self.steps else 0.0

    @property
    def tokens_per_step(self) -> float:
        return (self.prompt_tokens + self.completion_tokens) / self.steps if self.steps else 0.0


def behaviour(episodes: Sequence[Episode], repeat_streak: int = REPEAT_STREAK) -> Behaviour:
    return Behaviour(
        episodes=len(episodes),
        steps=sum(episode.steps for episode in episodes),
        not_admissible=sum(episode.not_admissible for episode in episodes),
        repeat_streak=repeat_streak,
        repeated=sum(streak_end(episode.actions, repeat_streak) > 0 for episode in episodes),
        longest_streak=max((longest_streak(episode.actions) for episode in episodes), default=0),
        model_calls=sum(episode.model_calls for episode in episodes),
        prompt_tokens=sum(episode.prompt_tokens for episode in episodes),
        completion_tokens=sum(episode.completion_tokens for episode in episodes),
    )


# -- two runs compared --------------------------------------------------------------------------


@dataclass(frozen=True)
class TypePair:
    """The games of one task type both runs played."""

    task_type: str
    games: int
    a_wins: int
    b_wins: int
    a_only: int
    b_only: int


@dataclass(frozen=True)
class PairedGames:
    """Two runs over the games both played, each game once: McNemar's 2x2 table."""

    # Game ids, sorted.
    games: list[str]
    won_in_a_only: list[str]
    won_in_b_only: list[str]
    won_in_both: int
    won_in_neither: int
    by_task_type: list[TypePair] = field(default_factory=list)

    @property
    def a_wins(self) -> int:
        return self.won_in_both + len(self.won_in_a_only)

    @property
    def b_wins(self) -> int:
        return self.won_in_both + len(self.won_in_b_only)

    @property
    def p_value(self) -> float:
        """Exact McNemar (two-sided) over the games won in one run only."""
        return mcnemar_exact(len(self.won_in_a_only), len(self.won_in_b_only))


def won_by_game(episodes: Iterable[Episode]) -> dict[str, bool]:
    """A game counts as won in a run when one of its counted episodes there was won."""
    won: dict[str, bool] = {}
    for episode in episodes:
        won[episode.game_id] = won.get(episode.game_id, False) or episode.won
    return won


def paired_games(a: Sequence[Episode], b: Sequence[Episode]) -> PairedGames:
    """Give each run's counted episodes (`counted`)."""
    won_a, won_b = won_by_game(a), won_by_game(b)
    task_types = {episode.game_id: episode.task_type for episode in (*b, *a)}
    games = sorted(won_a.keys() & won_b.keys())
    pairs: dict[str, list[int]] = {}
    for game in games:
        # games, a wins, b wins, a only, b only
        counts = pairs.setdefault(task_types[game], [0, 0, 0, 0, 0])
        x, y = won_a[game], won_b[game]
        for position, value in enumerate((True, x, y, x and not y, y and not x)):
            counts[position] += value
    return PairedGames(
        games=games,
        won_in_a_only=[g for g in games if won_a[g] and not won_b[g]],
        won_in_b_only=[g for g in games if won_b[g] and not won_a[g]],
        won_in_both=sum(won_a[g] and won_b[g] for g in games),
        won_in_neither=sum(not won_a[g] and not won_b[g] for g in games),
        by_task_type=[TypePair(task_type, *pairs[task_type]) for task_type in sorted(pairs)],
    )
