"""The edge between protobuf and the store: Trajectory <-> JSON line <-> record metadata.

A line is the trajectory's proto3 JSON mapping with the proto field names (`trajectory_id`,
`run_id`, ...), compact, UTF-8, ending in `\\n`. JSON escapes control characters, so a line never
contains a raw newline. orjson writes and reads the lines: for a 10 kB trajectory it takes 4 µs
where the standard library's C encoder takes 50. `RecordMeta` is what the index keeps of each
line; it is read from the JSON document (not the full proto) so that start-up stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format

from alfagent.store.v1 import store_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import ids
from alfagent_common.errors import InvalidRequest
from alfagent_common.stats import wilson_interval
from store_service import proto_json, proto_parse

# GetStats reports trajectories without a task type under this name.
UNKNOWN_TASK_TYPE = "unknown"
OVERALL_TASK_TYPE = "all"


class BadLine(ValueError):
    """A stored line that is not a trajectory this store could have written."""


@dataclass(frozen=True, slots=True)
class RecordMeta:
    trajectory_id: str
    run_id: str
    task_type: str
    won: bool
    steps: int
    goal_progress: float
    prompt_tokens: int
    completion_tokens: int


@dataclass(slots=True)
class TaskAggregate:
    """Running sums for one (run, task type); `records.stats_to_proto` turns them into rates."""

    task_type: str
    episodes: int = 0
    wins: int = 0
    steps: int = 0
    goal_progress: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, meta: RecordMeta) -> None:
        self.episodes += 1
        self.wins += meta.won
        self.steps += meta.steps
        self.goal_progress += meta.goal_progress
        self.prompt_tokens += meta.prompt_tokens
        self.completion_tokens += meta.completion_tokens

    def merge(self, other: TaskAggregate) -> None:
        self.episodes += other.episodes
        self.wins += other.wins
        self.steps += other.steps
        self.goal_progress += other.goal_progress
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


def encode(trajectory: trajectory_pb2.Trajectory, max_bytes: int) -> tuple[bytes, RecordMeta]:
    """The line to store for `trajectory` and its metadata; InvalidRequest if it cannot be stored."""
    meta = meta_of(trajectory)
    return encode_line(trajectory, max_bytes), meta


def encode_line(trajectory: trajectory_pb2.Trajectory, max_bytes: int) -> bytes:
    """The line to store for `trajectory`; InvalidRequest if it is over `max_bytes`.

    Its ids are not checked here: `meta_of` does that, before anything is sent to be encoded."""
    # Compact and UTF-8 (no \\u escapes but for control characters), like every line stored.
    line = orjson.dumps(proto_json.message_to_dict(trajectory), option=orjson.OPT_APPEND_NEWLINE)
    if len(line) > max_bytes:
        raise InvalidRequest(
            f"trajectory {trajectory.trajectory_id!r} is {len(line)} bytes as JSON; "
            f"the limit is {max_bytes} (STORE_MAX_TRAJECTORY_BYTES)"
        )
    return line


def check_ids(trajectory: trajectory_pb2.Trajectory) -> None:
    ids.check_id(trajectory.trajectory_id, "trajectory.trajectory_id")
    ids.check_optional_id(trajectory.run_id, "trajectory.run_id")


def meta_of(trajectory: trajectory_pb2.Trajectory) -> RecordMeta:
    """What the index keeps of `trajectory`: the same as `meta_from_line` gives for its line."""
    check_ids(trajectory)
    # The line holds float32 values in their shortest form; the index must hold the same number.
    goal_progress = proto_json.float32_json(trajectory.goal_progress)
    return RecordMeta(
        trajectory_id=trajectory.trajectory_id,
        run_id=trajectory.run_id,
        task_type=trajectory.game.task_type,
        won=trajectory.won,
        steps=len(trajectory.steps),
        goal_progress=goal_progress if isinstance(goal_progress, float) else 0.0,
        prompt_tokens=trajectory.usage.prompt_tokens,
        completion_tokens=trajectory.usage.completion_tokens,
    )


def decode(line: bytes) -> trajectory_pb2.Trajectory:
    """The Trajectory of a stored line; json_format.ParseError if it is not one.

    Fields added by a newer writer are skipped rather than refused.
    """
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise json_format.ParseError(f"not JSON: {error}") from None
    return proto_parse.parse(document, trajectory_pb2.Trajectory())


def meta_from_line(line: bytes) -> RecordMeta:
    """Metadata of a stored line (without its `\\n`); BadLine if it is not a valid record."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as error:  # invalid UTF-8 included
        raise BadLine(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise BadLine("not a JSON object")
    return meta_from_document(document)


def meta_from_document(document: Mapping[str, Any]) -> RecordMeta:
    try:
        game = document.get("game", {})
        usage = document.get("usage", {})
        steps = document.get("steps", [])
        won = document.get("won", False)
        texts = (document.get("trajectory_id", ""), document.get("run_id", ""), game.get("task_type", ""))
        if (
            not isinstance(steps, list)
            or not isinstance(won, bool)
            or not all(isinstance(t, str) for t in texts)
        ):
            raise BadLine("steps is not a list, won not a boolean, or an id not a string")
        goal_progress = float(document.get("goal_progress", 0.0))
        return RecordMeta(
            trajectory_id=ids.check_id(texts[0], "trajectory_id"),
            run_id=ids.check_optional_id(texts[1], "run_id"),
            task_type=texts[2],
            won=won,
            steps=len(steps),
            goal_progress=goal_progress if math.isfinite(goal_progress) else 0.0,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )
    except InvalidRequest as error:
        raise BadLine(str(error)) from None
    except (AttributeError, TypeError, ValueError) as error:
        raise BadLine(f"unexpected field type: {error}") from None


def task_stats_to_proto(aggregate: TaskAggregate) -> trajectory_pb2.TaskTypeStats:
    n = aggregate.episodes
    low, high = wilson_interval(aggregate.wins, n)
    return trajectory_pb2.TaskTypeStats(
        task_type=aggregate.task_type or UNKNOWN_TASK_TYPE,
        episodes=n,
        wins=aggregate.wins,
        success_rate=aggregate.wins / n if n else 0.0,
        success_ci_low=low,
        success_ci_high=high,
        mean_steps=aggregate.steps / n if n else 0.0,
        mean_goal_progress=aggregate.goal_progress / n if n else 0.0,
        prompt_tokens=aggregate.prompt_tokens,
        completion_tokens=aggregate.completion_tokens,
    )


def stats_to_proto(run_id: str, by_task_type: Iterable[TaskAggregate]) -> store_pb2.StoreStats:
    overall = TaskAggregate(OVERALL_TASK_TYPE)
    rows = []
    for aggregate in sorted(by_task_type, key=lambda a: a.task_type):
        rows.append(task_stats_to_proto(aggregate))
        overall.merge(aggregate)
    return store_pb2.StoreStats(
        run_id=run_id,
        by_task_type=rows,
        overall=task_stats_to_proto(overall),
        trajectories=overall.episodes,
    )
