"""`make up` / `make down`: the three services on their binding ports, and nothing left after."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.processes import REPO_ROOT
from tests.conftest import scrubbed_environ
from tests.grpcurl import call

PORTS = (50051, 50052, 50053)
PIDS_FILE = REPO_ROOT / ".run" / "pids.json"


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def launcher(command: str, store_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher", command],
        cwd=REPO_ROOT,
        # The three gRPC services only: the local model (tests/llm/) takes a model load to start.
        env=scrubbed_environ(STORE_DIR=str(store_dir), WITH_LLM="0"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def group_members(group: int) -> list[int]:
    """Live (not zombie) processes whose process group is `group`."""
    members = []
    for entry in Path("/proc").iterdir():
        try:
            state, _, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == group and state != "Z":
            members.append(int(entry.name))
    return members


def test_up_serves_on_the_binding_ports_and_down_leaves_no_process(tmp_path: Path) -> None:
    if PIDS_FILE.exists() or not all(port_free(port) for port in PORTS):
        pytest.skip("a local stack is already running on 50051-50053 (make down first)")
    up = launcher("up", tmp_path / "store")
    try:
        assert up.returncode == 0, up.stderr
        for port in PORTS:
            assert call(f"localhost:{port}", "grpc.health.v1.Health/Check", {}) == {"status": "SERVING"}
        result = call(
            "localhost:50051",
            "alfagent.agent.v1.AgentService/RunEpisode",
            {"task_type": "pick_and_place_simple", "policy": "EXPERT"},
        )
        assert result["won"] is True
        # Every service runs on uvloop by default (alfagent_common/eventloop.py) and says so.
        for module in ("env_service", "store_service", "agent_service"):
            lines = (REPO_ROOT / ".run" / f"{module}.log").read_text().splitlines()
            entries = [json.loads(line) for line in lines if line.startswith("{")]
            serving = [entry for entry in entries if entry.get("msg") == "serving"]
            assert serving and serving[-1]["event_loop"] == "uvloop", module
        # Each service leads its own process group; env_service's workers are in its group.
        groups = list(json.loads(PIDS_FILE.read_text()).values())
        assert len(groups) == 3 and all(group_members(group) for group in groups)
    finally:
        down = launcher("down", tmp_path / "store")
    assert down.returncode == 0, down.stderr
    assert not PIDS_FILE.exists()
    assert not any(group_members(group) for group in groups)
    assert all(port_free(port) for port in PORTS)
    assert list((tmp_path / "store").glob("*.jsonl")), "the episode was stored under STORE_DIR"
