"""How a streamed episode (StreamEpisode) reads in a terminal: the CLI's `episode` command and
`make demo` print the same lines as the events arrive."""

from __future__ import annotations

import textwrap

from alfagent.agent.v1 import agent_pb2
from alfagent.trajectory.v1 import trajectory_pb2


def indent(text: str) -> str:
    return textwrap.indent(text.strip(), "      ")


def took(milliseconds: float) -> str:
    return f"{milliseconds:.0f} ms" if milliseconds < 1000 else f"{milliseconds / 1000:.1f} s"


def started_lines(started: agent_pb2.EpisodeStarted) -> list[str]:
    game = started.game
    source = trajectory_pb2.GameSource.Name(game.source).lower()
    return [
        f"game:  {game.game_id}  ({source} game)",
        f"task:  {game.task}\n",
        indent(started.observation),
        "",
    ]


def step_lines(step: trajectory_pb2.Step) -> list[str]:
    lines = [f"      think: {thought}" for thought in step.thought.split("\n") if thought]
    cost = took(step.latency_ms)
    if step.usage.prompt_tokens:
        cost += f", {step.usage.prompt_tokens} prompt + {step.usage.completion_tokens} completion tokens"
    # Grounding is worth showing only when the command sent is not the model's own admissible one.
    grounding = f" [{step.grounding}]" if step.grounding not in ("", "policy", "exact") else ""
    lines.append(f"  {step.index:>2}. > {step.action}{grounding}    ({cost})")
    if step.raw_output and step.raw_output.strip() != step.action:
        lines.append(f"      model wrote: {step.raw_output!r}")
    lines.append(indent(step.observation))
    return lines


def result_lines(result: agent_pb2.EpisodeResult) -> list[str]:
    reason = trajectory_pb2.EndReason.Name(result.end_reason)
    duration = took(result.duration_ms)
    lines = [f"\nwon: {result.won}  end_reason: {reason}  steps: {result.steps}  duration: {duration}"]
    usage = result.usage
    if usage.prompt_tokens:
        lines.append(
            f"tokens: {usage.prompt_tokens} prompt ({usage.cached_prompt_tokens} from the server's cache) + "
            f"{usage.completion_tokens} completion"
        )
    lines.append(f"trajectory: {result.trajectory_id}")
    if result.error:
        lines.append(f"error: {result.error}")
    return lines


def event_lines(event: agent_pb2.EpisodeEvent) -> list[str]:
    """The lines of one StreamEpisode event, whichever it is."""
    kind = event.WhichOneof("event")
    if kind == "started":
        return started_lines(event.started)
    if kind == "step":
        return step_lines(event.step)
    return result_lines(event.result)
