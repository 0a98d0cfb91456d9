"""The trajectory viewer's data: one episode step by step, as stored.

Text is kept exactly as stored (thoughts, the model's raw output, observations): the page shows it
with `textContent`, never as HTML, so whatever a model or a game wrote is displayed, not run.
"""

from __future__ import annotations

from typing import Any

from alfagent.trajectory.v1 import trajectory_pb2


def step_record(step: trajectory_pb2.Step) -> dict[str, Any]:
    return {
        "index": step.index,
        "thought": step.thought,
        "raw_output": step.raw_output,
        "action": step.action,
        # exact | normalised | nearest | none | policy (see agent_service/README.md, Grounding)
        "grounding": step.grounding,
        "admissible": step.admissible,
        "observation": step.observation,
        "goal_progress": round(step.goal_progress, 4),
        "admissible_commands": list(step.admissible_commands),
        "llm_ms": round(step.llm_latency_ms, 1),
        "env_ms": round(step.env_latency_ms, 1),
        "tokens": step.usage.prompt_tokens + step.usage.completion_tokens,
        "retries": step.retries,
    }


def episode_detail(trajectory: trajectory_pb2.Trajectory) -> dict[str, Any]:
    return {
        "initial_observation": trajectory.initial_observation,
        "initial_admissible_commands": list(trajectory.initial_admissible_commands),
        "error": trajectory.error,
        "dropped_turns": trajectory.dropped_turns,
        "steps": [step_record(step) for step in trajectory.steps],
    }
