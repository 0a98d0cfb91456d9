from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from alfagent.trajectory.v1 import trajectory_pb2
from store_service.export import SYSTEM_PROMPT, ExportOptions, conversation
from store_service.log import TrajectoryLog
from tests.store.store_harness import REPO, appendable, sample_trajectory


def fill(store_dir: Path, trajectories: list[trajectory_pb2.Trajectory]) -> None:
    async def body() -> None:
        log = TrajectoryLog(store_dir, segment_bytes=4096)
        await log.open()
        for trajectory in trajectories:
            await log.append(*appendable(trajectory))
        await log.close()

    asyncio.run(body())


def export(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv/bin/python"), "-m", "store_service", "export", *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_conversation_shape() -> None:
    trajectory = sample_trajectory("t", steps=3)
    chat = conversation(trajectory, ExportOptions())
    assert chat is not None
    messages = chat["messages"]
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert messages[0]["content"] == SYSTEM_PROMPT
    assert messages[1]["content"] == trajectory.initial_observation
    assert [m["content"] for m in messages[2::2]] == [step.action for step in trajectory.steps]
    assert [m["content"] for m in messages[3::2]] == [step.observation for step in trajectory.steps[:-1]]
    assert set(chat) == {"messages"}


def test_raw_outputs_task_fallback_and_metadata() -> None:
    trajectory = sample_trajectory("t", steps=2)
    trajectory.initial_observation = ""
    trajectory.steps[1].raw_output = ""
    chat = conversation(trajectory, ExportOptions(assistant="raw", metadata=True))
    assert chat is not None
    assert chat["messages"][1]["content"] == "Your task is to: put a pencil in shelf."
    assert chat["messages"][2]["content"] == trajectory.steps[0].raw_output
    assert chat["messages"][4]["content"] == trajectory.steps[1].action  # no raw output: the action
    assert chat["metadata"]["trajectory_id"] == "t" and chat["metadata"]["policy"] == "LLM"


def test_a_trajectory_without_actions_has_no_conversation() -> None:
    assert conversation(sample_trajectory("t", steps=0), ExportOptions()) is None


def test_export_command(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    wanted = [sample_trajectory(f"a-{n}", run_id="run-a", won=n % 2 == 0, steps=2) for n in range(6)]
    fill(store_dir, [*wanted, sample_trajectory("b-0", run_id="run-b")])
    # A torn tail left by a crash is skipped by the export, and left alone for the store to cut.
    segment = sorted(store_dir.glob("trajectories-*.jsonl"))[-1]
    with segment.open("ab") as stream:
        stream.write(b'{"trajectory_id":"torn"')
    before = segment.read_bytes()

    out = tmp_path / "sft.jsonl"
    result = export("--run-id", "run-a", "--out", str(out), "--store-dir", str(store_dir))
    assert result.returncode == 0, result.stderr
    chats = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(chats) == 6
    assert chats[0]["messages"][2]["content"] == wanted[0].steps[0].action

    result = export(
        "--run-id", "run-a", "--out", str(out), "--store-dir", str(store_dir), "--won-only", "--metadata"
    )
    assert result.returncode == 0, result.stderr
    chats = [json.loads(line) for line in out.read_text().splitlines()]
    assert [chat["metadata"]["trajectory_id"] for chat in chats] == ["a-0", "a-2", "a-4"]
    assert segment.read_bytes() == before
    assert not list(tmp_path.glob("*.partial"))


def test_export_errors(tmp_path: Path) -> None:
    result = export(
        "--run-id", "r", "--out", str(tmp_path / "x.jsonl"), "--store-dir", str(tmp_path / "none")
    )
    assert result.returncode == 1 and "no store directory" in result.stderr
    result = export("--run-id", "a/b", "--out", str(tmp_path / "x.jsonl"), "--store-dir", str(tmp_path))
    assert result.returncode == 1 and "run_id" in result.stderr
    result = export("--out", "x")
    assert result.returncode == 2 and "--run-id" in result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["export", "--help"]])
def test_help(argv: list[str]) -> None:
    result = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-m", "store_service", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "store" in result.stdout
