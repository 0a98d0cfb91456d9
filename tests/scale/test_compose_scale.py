"""`docker compose up --scale env=3` for real, with the container engine of tests/containers.

Runs with the container stack (ALFAGENT_TEST_STACK=containers, the images built): a compose
project of its own (`alfagent-scale-test`, ports 127.0.0.1:6315x) with three env replicas, the
store and the agent, then removed with its volumes.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import grpc
import pytest

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common.healthcheck import check
from tests.containers.engine import ROOT, Engine, engine_or_skip

PROJECT = "alfagent-scale-test"
AGENT = "127.0.0.1:63151"

pytestmark = pytest.mark.skipif(
    os.environ.get("ALFAGENT_TEST_STACK") != "containers", reason="runs with the container stack only"
)


def compose(engine: Engine, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    environ = {**engine.environ, "AGENT_PUBLISH": AGENT, "STORE_PUBLISH": "127.0.0.1:63153"}
    command = [*engine.compose_command, "-p", PROJECT, "-f", "docker-compose.yml", *args]
    result = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


@pytest.fixture
def scaled() -> Iterator[Engine]:
    engine = engine_or_skip()
    remove(engine)
    compose(engine, "up", "-d", "--no-build", "--scale", "env=3", "env", "store", "agent")
    try:
        yield engine
    finally:
        remove(engine)


def remove(engine: Engine) -> None:
    """The project's containers, network and volumes. podman-compose 1.6's `down` leaves some
    replicas of a scaled service behind (seen here), and with them the network and volumes."""
    # The agent first: podman refuses to remove a container another one depends on.
    names = [name for service in ("agent", "store", "env") for name in containers(engine, service)]
    for name in names:
        # One at a time, refusals ignored: podman 4.3 refuses a container whose dependent is still
        # being removed, or one its restart policy is bringing back; `down` below sweeps up.
        engine.run("rm", "-f", name, check=False)
    compose(engine, "down", "-v")


def containers(engine: Engine, service: str) -> list[str]:
    result = engine.run(
        "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
        "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}",
    )  # fmt: skip
    return sorted(result.stdout.split())


def evaluate(run_id: str) -> list[agent_pb2.EpisodeResult]:
    with grpc.insecure_channel(AGENT) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        request = agent_pb2.RunEvaluationRequest(
            limit=6, concurrency=6, policy=trajectory_pb2.EXPERT, run_id=run_id
        )
        return [
            e.progress.episode for e in stub.RunEvaluation(request, timeout=600) if e.HasField("progress")
        ]


def test_three_env_replicas_share_the_sessions_and_survive_the_loss_of_one(scaled: Engine) -> None:
    envs = containers(scaled, "env")
    assert len(envs) == 3
    deadline = time.monotonic() + 300
    while not check(AGENT, timeout_seconds=2):
        assert time.monotonic() < deadline, "the agent did not serve"
        time.sleep(2)
    # Until every replica serves, the agent places sessions on those that do.
    time.sleep(10)
    results = evaluate("compose-scale-1")
    assert len(results) == 6 and all(r.won for r in results)
    logs = [scaled.run("logs", name) for name in envs]
    opened = [(log.stdout + log.stderr).count('"session opened"') for log in logs]
    assert all(count >= 1 for count in opened), opened

    scaled.run("kill", envs[2])
    results = evaluate("compose-scale-2")
    assert len(results) == 6 and all(r.won for r in results)
