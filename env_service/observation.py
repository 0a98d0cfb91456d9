"""What a game shows after a reset or a step: passed from worker processes to the service.

Kept apart from runtime.py so that the service's own process can use it without importing
textworld.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Observation:
    text: str
    admissible_commands: tuple[str, ...]
    won: bool
    goal_progress: float
    # Whether the action that led here was admissible (True after a reset).
    admissible: bool = True
    expert_plan: tuple[str, ...] = field(default=())
