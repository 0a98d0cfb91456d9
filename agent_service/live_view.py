"""What `python -m agent_service eval` shows while an evaluation runs: success so far per task type
with its Wilson interval, episodes and steps a minute, seconds a step, and errors by cause, from
the progress events as they arrive (no grpc here: the CLI hands each finished episode in).

A line per task type, rewritten every `every` episodes (and at the end) above the progress bar, so
a long run can be judged before it ends.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from alfagent_common.run_stats import wilson_interval

# End reasons that are the harness's, not the policy's: shown as errors.
ERRORS = ("LLM_ERROR", "ENV_ERROR", "CANCELLED")


@dataclass
class LiveView:
    started: float = field(default_factory=time.monotonic)
    wins: Counter[str] = field(default_factory=Counter)
    played: Counter[str] = field(default_factory=Counter)
    steps: int = 0
    # Seconds the episodes played (their own durations: with N in flight they overlap).
    episode_seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    resumed: int = 0
    _by_type_steps: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(
        self, task_type: str, won: bool, end_reason: str, steps: int, duration_ms: int, resumed: bool
    ) -> None:
        self.played[task_type] += 1
        self.wins[task_type] += won
        if resumed:
            self.resumed += 1
            return  # played before: its time says nothing about this run's speed
        self.steps += steps
        self._by_type_steps[task_type] += steps
        self.episode_seconds += duration_ms / 1000
        if end_reason in ERRORS:
            self.errors[end_reason] += 1

    def lines(self, now: float | None = None) -> list[str]:
        wall_minutes = max(((now or time.monotonic()) - self.started) / 60, 1e-9)
        rows = []
        for task_type in sorted(self.played):
            n, won = self.played[task_type], self.wins[task_type]
            low, high = wilson_interval(won, n)
            rows.append(f"  {task_type:<32} {won:>3}/{n:<3} {won / n:>5.0%}  95% {low:.0%}-{high:.0%}")
        total, won = sum(self.played.values()), sum(self.wins.values())
        low, high = wilson_interval(won, total)
        fresh = total - self.resumed
        seconds_a_step = self.episode_seconds / self.steps if self.steps else 0.0
        errors = ", ".join(f"{reason} {count}" for reason, count in sorted(self.errors.items())) or "none"
        rows.append(
            f"  {'all':<32} {won:>3}/{total:<3} {won / max(total, 1):>5.0%}  95% {low:.0%}-{high:.0%}  |  "
            f"{fresh / wall_minutes:.1f} episodes/min, {self.steps / wall_minutes:.0f} steps/min, "
            f"{seconds_a_step:.1f} s a step; errors: {errors}"
            + (f"; {self.resumed} already stored" if self.resumed else "")
        )
        return rows
