"""Export a run's trajectories as chat-format JSONL for supervised fine-tuning.

One line per trajectory: `{"messages": [...]}` in the OpenAI / Hugging Face chat format.
- `system`: what the agent is and how to answer;
- first `user` turn: the environment's opening text (which states the task), or the task;
- then per step an `assistant` turn (the action, or with `--assistant raw` the model's raw output)
  and a `user` turn with the observation it got; the last observation is left out so every
  conversation ends on a model turn.
Trajectories without any action are skipped.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import ids
from alfagent_common.errors import NotFound
from store_service import records, recovery

log = logging.getLogger(__name__)

ASSISTANT_CONTENTS = ("action", "raw")
SYSTEM_PROMPT = (
    "You are an agent in a text-based household environment (ALFWorld). Each turn you get an "
    "observation; answer with the one action to take next."
)


@dataclass(frozen=True)
class ExportOptions:
    won_only: bool = False
    assistant: str = "action"
    metadata: bool = False


def conversation(trajectory: trajectory_pb2.Trajectory, options: ExportOptions) -> dict[str, Any] | None:
    """The chat for one trajectory, or None if it has no model turn."""
    opening = trajectory.initial_observation
    task = trajectory.game.task
    if task and task not in opening:
        opening = f"{opening}\n\nYour task is to: {task}" if opening else f"Your task is to: {task}"
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": opening}]
    turns = [step for step in trajectory.steps if step.action or step.raw_output]
    for number, step in enumerate(turns):
        said = step.raw_output if options.assistant == "raw" and step.raw_output else step.action
        messages.append({"role": "assistant", "content": said})
        if number < len(turns) - 1:
            messages.append({"role": "user", "content": step.observation})
    if not turns:
        return None
    chat: dict[str, Any] = {"messages": messages}
    if options.metadata:
        chat["metadata"] = {
            "trajectory_id": trajectory.trajectory_id,
            "run_id": trajectory.run_id,
            "game_id": trajectory.game.game_id,
            "task_type": trajectory.game.task_type,
            "won": trajectory.won,
            "policy": trajectory_pb2.Policy.Name(trajectory.policy),
            "model": trajectory.model,
        }
    return chat


def conversations(store_dir: Path, run_id: str, options: ExportOptions) -> Iterator[dict[str, Any]]:
    if not store_dir.is_dir():
        raise NotFound(f"no store directory at {store_dir}")
    skipped = 0
    for meta, line in recovery.iter_records(store_dir):
        if meta.run_id != run_id or (options.won_only and not meta.won):
            continue
        try:
            trajectory = records.decode(line)
        except json_format.ParseError as error:
            log.warning("skipped a line that is not a Trajectory", extra={"error": str(error)})
            continue
        chat = conversation(trajectory, options)
        if chat is None:
            skipped += 1
            continue
        yield chat
    if skipped:
        log.info("skipped trajectories without any action", extra={"skipped": skipped})


def export_run(store_dir: Path, run_id: str, out: Path, options: ExportOptions) -> int:
    """Write the run's conversations to `out` ('-': stdout); returns how many were written.

    A file is written under a temporary name and renamed when complete, so a partial export
    never looks like a finished one.
    """
    ids.check_id(run_id, "run_id")
    if options.assistant not in ASSISTANT_CONTENTS:
        raise ValueError(f"assistant must be one of {ASSISTANT_CONTENTS}, got {options.assistant!r}")
    if str(out) == "-":
        count = 0
        for chat in conversations(store_dir, run_id, options):
            sys.stdout.write(json.dumps(chat, ensure_ascii=False) + "\n")
            count += 1
        return count
    temporary = out.with_name(out.name + ".partial")
    count = 0
    with temporary.open("w", encoding="utf-8") as stream:
        for chat in conversations(store_dir, run_id, options):
            stream.write(json.dumps(chat, ensure_ascii=False) + "\n")
            count += 1
    os.replace(temporary, out)
    return count
