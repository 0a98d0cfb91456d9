"""Power loss, simulated: the last segment cut at every byte offset of its last line recovers."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from alfagent.trajectory.v1 import trajectory_pb2
from store_service import records
from store_service.log import TrajectoryLog
from tests.store.store_harness import sample_trajectory

SEGMENT = "trajectories-000001.jsonl"


def recover(directory: Path) -> list[str]:
    async def body() -> list[str]:
        log = TrajectoryLog(directory, segment_bytes=1 << 20)
        await log.open()
        present = [trajectory_id for trajectory_id in ("t-0", "t-1", "t-2") if trajectory_id in log.index]
        await log.close()
        return present

    return asyncio.run(body())


def test_cut_at_every_byte_of_the_last_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)  # one warning per cut is expected; keep the output small
    lines = [records.encode(sample_trajectory(f"t-{n}", steps=1), 1 << 20)[0] for n in range(2)]
    # A short last line (every cut costs a few fsyncs), with multi-byte characters so that some
    # cuts fall inside a UTF-8 sequence.
    last_trajectory = trajectory_pb2.Trajectory(trajectory_id="t-2", run_id="run-1", won=True)
    last_trajectory.game.task_type = "pick_and_place_simple"
    last_trajectory.steps.add(index=0, action="go to desk 1", observation="ünïcödé → ✓", won=True)
    last = records.encode(last_trajectory, 1 << 20)[0]
    whole = b"".join(lines) + last
    prefix = len(whole) - len(last)
    assert 150 < len(last) < 300 and len(last.decode()) < len(last)

    for cut in range(prefix, len(whole) + 1):
        directory = tmp_path / f"cut-{cut}"
        directory.mkdir()
        (directory / SEGMENT).write_bytes(whole[:cut])

        present = recover(directory)

        complete = cut == len(whole)
        assert present == (["t-0", "t-1", "t-2"] if complete else ["t-0", "t-1"]), cut
        segment = (directory / SEGMENT).read_bytes()
        assert segment == (whole if complete else whole[:prefix]), cut
        for line in segment.splitlines():
            json.loads(line)
        corrupt = list(directory.glob("*.corrupt"))
        if cut in (prefix, len(whole)):
            assert corrupt == [], cut
        else:
            assert [path.read_bytes() for path in corrupt] == [whole[prefix:cut]], cut
        # Recovering again changes nothing more.
        assert recover(directory) == present
        assert len(list(directory.glob("*.corrupt"))) == len(corrupt)
