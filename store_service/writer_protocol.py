"""What the store's writer process answers, typed: `Ready`, then a `Committed` or `CommitFailed` per commit.

The messages are JSON objects on the wire (the format writer.py describes); `encode` and
`decode` are the only places that know their keys, so the writer and the store's event loop
(writer_client.py, log.py) deal only in these dataclasses, checked by mypy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson


@dataclass(frozen=True)
class Ready:
    """The writer has opened its segment and waits for trajectories."""

    pid: int


@dataclass(frozen=True)
class Committed:
    """The next `count` trajectories sent, in order: those with a size are durable, back to back
    from `offset` in segment number `segment`."""

    count: int
    segment: int
    offset: int
    # Each stored line's length with its newline; 0 for a trajectory not stored, which is then
    # in `rejected` (it cannot be stored: the caller's fault) or `failed` (a bug of the writer's).
    sizes: list[int]
    fsyncs: int
    # By position in the batch: why the trajectory was not stored.
    rejected: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommitFailed:
    """None of the next `count` trajectories was stored."""

    count: int
    error: str
    errno: int | None
    # Set when the writer will refuse every later commit (a failed fsync, or a write it could not undo).
    broken: str | None


WriterMessage: TypeAlias = Ready | Committed | CommitFailed


def encode(message: WriterMessage) -> bytes:
    body: dict[str, Any]
    if isinstance(message, Ready):
        body = {"ready": True, "pid": message.pid}
    elif isinstance(message, Committed):
        body = {
            "count": message.count,
            "segment": message.segment,
            "offset": message.offset,
            "sizes": message.sizes,
            "fsyncs": message.fsyncs,
            # JSON keys are strings.
            "rejected": {str(position): why for position, why in message.rejected.items()},
            "failed": {str(position): why for position, why in message.failed.items()},
        }
    else:
        body = {
            "count": message.count,
            "error": message.error,
            "errno": message.errno,
            "broken": message.broken,
        }
    return orjson.dumps(body)


def decode(data: bytes) -> WriterMessage:
    """The message in `data`; ValueError (or KeyError/TypeError) for anything else."""
    body = orjson.loads(data)
    if not isinstance(body, dict):
        raise ValueError(f"a writer message is a JSON object, not {type(body).__name__}")
    if body.get("ready"):
        return Ready(pid=int(body["pid"]))
    if "error" in body:
        return CommitFailed(
            count=int(body["count"]),
            error=str(body["error"]),
            errno=None if body["errno"] is None else int(body["errno"]),
            broken=None if body["broken"] is None else str(body["broken"]),
        )
    return Committed(
        count=int(body["count"]),
        segment=int(body["segment"]),
        offset=int(body["offset"]),
        sizes=[int(size) for size in body["sizes"]],
        fsyncs=int(body["fsyncs"]),
        rejected={int(position): str(why) for position, why in body["rejected"].items()},
        failed={int(position): str(why) for position, why in body["failed"].items()},
    )
