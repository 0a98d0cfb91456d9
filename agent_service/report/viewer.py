"""The trajectory viewer's data: one episode step by step, as stored.

Text is kept exactly as stored (thoughts, the model's raw output, observations): the page shows it
with `textContent`, never as HTML, so whatever a model or a game wrote is displayed, not run.
A step is a row of STEP_FIELDS, not an object: 1,000 episodes hold ~30,000 steps, and the names
repeated in each made the JSON a quarter larger and slower to write and to parse.
"""

from __future__ import annotations

from typing import Any

from alfagent.trajectory.v1 import trajectory_pb2

STEP_FIELDS = (
    "index",
    "thought",
    "raw_output",
    "action",
    # exact | normalised | nearest | none | policy (see agent_service/README.md, Grounding)
    "grounding",
    "admissible",
    "observation",
    "goal_progress",
    "admissible_commands",
    "llm_ms",
    "env_ms",
    "tokens",
    "retries",
    # The procedure call the command belongs to; the skill library's entries the prompt showed.
    "skill",
    "skills_shown",
)


def step_row(step: trajectory_pb2.Step) -> list[Any]:
    return [
        step.index,
        step.thought,
        step.raw_output,
        step.action,
        step.grounding,
        step.admissible,
        step.observation,
        round(step.goal_progress, 4),
        list(step.admissible_commands),
        round(step.llm_latency_ms),
        round(step.env_latency_ms),
        step.usage.prompt_tokens + step.usage.completion_tokens,
        step.retries,
        step.skill,
        list(step.skills_shown),
    ]


def episode_detail(trajectory: trajectory_pb2.Trajectory) -> dict[str, Any]:
    return {
        "initial_observation": trajectory.initial_observation,
        "initial_admissible_commands": list(trajectory.initial_admissible_commands),
        "error": trajectory.error,
        "dropped_turns": trajectory.dropped_turns,
        "steps": [step_row(step) for step in trajectory.steps],
    }
