"""The edge between protobuf and the store: Trajectory <-> JSON line <-> record metadata.

A line is the trajectory's proto3 JSON mapping with the proto field names (`trajectory_id`,
`run_id`, ...), compact, UTF-8, ending in `\\n`. JSON escapes control characters, so a line never
contains a raw newline. orjson writes and reads the lines: for a 10 kB trajectory it takes 4 µs
where the standard library's C encoder takes 50. `RecordMeta` is what the index keeps of each
line; it is read from the JSON document (not the full proto) so that start-up stays fast.
GetStats counts with `alfagent_common.run_stats`, as the evaluation summary and the report do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from google.protobuf import json_format

from alfagent.store.v1 import store_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import ids, run_stats
from alfagent_common.errors import InvalidRequest
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
    # What the attempt rule reads (`run_stats.Attempts`): a later attempt of the same game in the
    # same run replaces an episode that ended for a reason played again on resume.
    game_id: str = ""
    attempt: int = 0
    # An EndReason name; a number a newer writer used, as a string.
    end_reason: str = "END_REASON_UNSPECIFIED"


@dataclass(frozen=True)
class RunStats:
    """What the index holds for GetStats of one run (or of every run)."""

    # Sums of the counted episodes (the attempt rule applied), by task type.
    by_task_type: dict[str, run_stats.Tally]
    # Every trajectory stored, replaced attempts included.
    trajectories: int


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
        game_id=trajectory.game.game_id,
        attempt=trajectory.attempt,
        end_reason=run_stats.end_reason_name(trajectory.end_reason),
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
        texts = (
            document.get("trajectory_id", ""),
            document.get("run_id", ""),
            game.get("task_type", ""),
            game.get("game_id", ""),
        )
        attempt = document.get("attempt", 0)
        end_reason = document.get("end_reason", "END_REASON_UNSPECIFIED")
        if (
            not isinstance(steps, list)
            or not isinstance(won, bool)
            or not all(isinstance(t, str) for t in texts)
            or not isinstance(attempt, int)
            or isinstance(attempt, bool)
            or not isinstance(end_reason, str | int)
            or isinstance(end_reason, bool)
        ):
            raise BadLine(
                "steps is not a list, won not a boolean, an id not a string, attempt not an integer, "
                "or end_reason neither a name nor a number"
            )
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
            game_id=texts[3],
            attempt=attempt,
            end_reason=run_stats.end_reason_name(end_reason),
        )
    except InvalidRequest as error:
        raise BadLine(str(error)) from None
    except (AttributeError, TypeError, ValueError) as error:
        raise BadLine(f"unexpected field type: {error}") from None


def task_stats_to_proto(task_type: str, tally: run_stats.Tally) -> trajectory_pb2.TaskTypeStats:
    return trajectory_pb2.TaskTypeStats(
        **asdict(run_stats.summary_row(task_type or UNKNOWN_TASK_TYPE, tally))
    )


def stats_to_proto(run_id: str, stats: RunStats) -> store_pb2.StoreStats:
    """`overall` sums the task types' rows in task-type order; `trajectories` counts every
    trajectory stored, `overall.episodes` only those the attempt rule counts."""
    overall = run_stats.Tally()
    rows = []
    for task_type, tally in sorted(stats.by_task_type.items()):
        if tally.episodes:
            rows.append(task_stats_to_proto(task_type, tally))
            overall.merge(tally)
    return store_pb2.StoreStats(
        run_id=run_id,
        by_task_type=rows,
        overall=task_stats_to_proto(OVERALL_TASK_TYPE, overall),
        trajectories=stats.trajectories,
    )
