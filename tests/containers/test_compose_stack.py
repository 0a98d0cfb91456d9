"""The compose stack as users run it: real images, a real container engine, published ports.

Runs only against the container stack (ALFAGENT_TEST_STACK=containers, see tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common.healthcheck import check
from tests.containers.engine import IMAGES, ComposeStack
from tests.grpcurl import call

SERVICES = ("env", "store", "agent", "llm")


def stored_lines(volume: Path, trajectory_id: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(volume.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["trajectory_id"] == trajectory_id:
                found.append(entry)
    return found


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")


def kill_main_process(stack: ComposeStack, service: str) -> None:
    """SIGKILL of the container's main process from the host: a crash, not a stop."""
    os.kill(stack.engine.main_pid(service), signal.SIGKILL)


def wait_restarted(stack: ComposeStack, service: str, timeout: float = 120) -> None:
    """The restart policy brings a crashed service back; it must serve again on its port."""
    wait_until(lambda: stack.serves(service), timeout, f"{service} serves again")


def test_every_service_is_healthy_by_its_own_healthcheck(container_stack: ComposeStack) -> None:
    for service in SERVICES:
        assert container_stack.health(service) == "healthy", container_stack.logs(service)


def test_every_service_runs_as_non_root_on_a_read_only_root(container_stack: ComposeStack) -> None:
    engine = container_stack.engine
    for service in SERVICES:
        container = engine.container(service)
        config, host = engine.inspect(container)["Config"], engine.inspect(container)["HostConfig"]
        assert isinstance(config, dict) and isinstance(host, dict)
        assert config["User"] == "10001", f"{service} runs as {config['User']!r}"
        assert host["ReadonlyRootfs"] is True, f"{service} has a writable root filesystem"
        assert engine.run("exec", container, "id", "-u").stdout.strip() == "10001"
        refused = engine.run("exec", container, "touch", "/app/written", check=False)
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    # Each writes where it must: the store its volume, the env its cache volume.
    for service, folder in (("store", "/data"), ("env", "/cache")):
        container = engine.container(service)
        assert engine.run("exec", container, "touch", f"{folder}/probe").returncode == 0


def test_each_image_holds_only_the_code_it_runs(container_stack: ComposeStack) -> None:
    engine = container_stack.engine
    packages = {
        service: set(engine.run("run", "--rm", image, "ls", "/app").stdout.split())
        for service, image in IMAGES.items()
    }
    assert packages["agent"] == {"alfagent", "alfagent_common", "alfagent_clients", "agent_service"}
    assert packages["env"] == {"alfagent", "alfagent_common", "env_service"}
    assert packages["store"] == {"alfagent", "alfagent_common", "store_service"}
    assert packages["llm"] == {"llm_service"}
    for service, image in IMAGES.items():
        compilers = engine.run(
            "run", "--rm", image, "sh", "-c", "command -v gcc cc c++ make cmake", check=False
        )
        assert compilers.stdout.strip() == "", f"{service} image carries build tools: {compilers.stdout}"


def test_expert_episode_through_grpcurl_is_stored_on_the_volume_and_survives_down_and_up(
    container_stack: ComposeStack,
) -> None:
    result = call(
        container_stack.address("agent"),
        "alfagent.agent.v1.AgentService/RunEpisode",
        {"task_type": "pick_heat_then_place_in_recep", "policy": "EXPERT", "run_id": "containers-e2e"},
    )
    assert result["won"] is True and result["end_reason"] == "WON"
    trajectory_id = result["trajectory_id"]
    volume = container_stack.engine.volume_path("trajectories")
    [line] = stored_lines(volume, trajectory_id)
    # The versions are those of the env that played the game, not "unknown".
    versions = line["versions"]
    assert versions["alfworld"] == "0.4.2" and versions["textworld"] == "1.7.0", versions
    assert versions["alfagent"] not in ("", "unknown")

    container_stack.down()
    container_stack.up()
    container_stack.wait_healthy()
    fetched = call(
        container_stack.address("store"),
        "alfagent.store.v1.StoreService/GetTrajectory",
        {"trajectory_id": trajectory_id},
    )
    assert fetched["trajectory_id"] == trajectory_id and fetched["versions"] == versions
    assert len(stored_lines(container_stack.engine.volume_path("trajectories"), trajectory_id)) == 1


def run_evaluation(address: str, run_id: str, on_progress: Any = None) -> tuple[list[Any], Any, Any]:
    """(progress events, summary or None, the error that ended the stream or None)."""
    progress: list[Any] = []
    with grpc.insecure_channel(address) as channel:
        agent = agent_pb2_grpc.AgentServiceStub(channel)
        request = agent_pb2.RunEvaluationRequest(
            limit=12, concurrency=3, policy=trajectory_pb2.EXPERT, run_id=run_id
        )
        try:
            for event in agent.RunEvaluation(request, timeout=600):
                if event.HasField("summary"):
                    return progress, event.summary, None
                progress.append(event.progress)
                if on_progress is not None:
                    on_progress(len(progress))
        except grpc.RpcError as error:
            return progress, None, error
    return progress, None, None


def run_trajectories(store_address: str, run_id: str) -> list[trajectory_pb2.Trajectory]:
    with grpc.insecure_channel(store_address) as channel:
        store = store_pb2_grpc.StoreServiceStub(channel)
        found: list[trajectory_pb2.Trajectory] = []
        token = ""
        while True:
            page = store.ListTrajectories(
                store_pb2.ListTrajectoriesRequest(run_id=run_id, page_token=token, page_size=100)
            )
            found.extend(page.trajectories)
            token = page.next_page_token
            if not token:
                return found


def test_env_killed_during_an_evaluation(container_stack: ComposeStack) -> None:
    run_id = f"containers-env-kill-{uuid.uuid4().hex[:8]}"
    agent, store = container_stack.address("agent"), container_stack.address("store")
    killed = threading.Event()

    def kill_after_two(done: int) -> None:
        if done == 2 and not killed.is_set():
            kill_main_process(container_stack, "env")
            killed.set()

    progress, summary, error = run_evaluation(agent, run_id, kill_after_two)
    assert killed.is_set(), "the evaluation ended before the env could be killed"
    ended = [event.episode for event in progress]
    # The episodes the env held when it died end ENV_ERROR and are stored as such.
    env_errors = [e for e in ended if e.end_reason == trajectory_pb2.ENV_ERROR]
    assert env_errors, f"no episode ended ENV_ERROR: {[e.end_reason for e in ended]}, {error}"
    # The agent and the store keep serving while the env is down or restarting.
    assert check(store, timeout_seconds=5)
    stored = {t.trajectory_id for t in run_trajectories(store, run_id)}
    assert {e.trajectory_id for e in env_errors} <= stored

    wait_restarted(container_stack, "env")
    wait_until(lambda: check(agent, timeout_seconds=2), 60, "the agent reports SERVING again")
    # The resume plays again, under attempt 1, the games the env's death cut short; the rest it
    # takes from the store.
    progress, summary, error = run_evaluation(agent, run_id)
    assert error is None and summary is not None, error
    assert summary.overall.episodes == 12
    assert summary.resumed == len(stored) - len(env_errors)
    trajectories = run_trajectories(store, run_id)
    ids = [t.trajectory_id for t in trajectories]
    assert len(ids) == len(set(ids)) == 12 + len(env_errors), "each (game, attempt) stored exactly once"
    cut_short = {e.game_id for e in env_errors}
    again = [t for t in trajectories if t.attempt == 1]
    assert {t.game.game_id for t in again} == cut_short
    assert all(t.end_reason != trajectory_pb2.ENV_ERROR for t in again)


def test_store_killed_during_appends_keeps_every_acknowledged_trajectory(
    container_stack: ComposeStack,
) -> None:
    store_address = container_stack.address("store")
    run_id = f"containers-store-kill-{uuid.uuid4().hex[:8]}"
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def append_until_stopped(writer: int) -> None:
        with grpc.insecure_channel(store_address) as channel:
            store = store_pb2_grpc.StoreServiceStub(channel)
            for n in range(10_000):
                if stop.is_set():
                    return
                trajectory = trajectory_pb2.Trajectory(
                    trajectory_id=f"t-{uuid.uuid4().hex}", run_id=run_id, model=f"writer-{writer}-{n}"
                )
                try:
                    store.AppendTrajectory(
                        store_pb2.AppendTrajectoryRequest(trajectory=trajectory), timeout=5
                    )
                except grpc.RpcError:
                    time.sleep(0.2)  # down or restarting: what was not acknowledged may be lost
                    continue
                with lock:
                    acknowledged.append(trajectory.trajectory_id)

    writers = [threading.Thread(target=append_until_stopped, args=(i,)) for i in range(4)]
    for writer in writers:
        writer.start()
    try:
        wait_until(lambda: len(acknowledged) >= 200, 60, "200 appends are acknowledged")
        kill_main_process(container_stack, "store")
        wait_restarted(container_stack, "store")
        count_after_restart = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= count_after_restart + 50, 60, "appends resume")
    finally:
        stop.set()
        for writer in writers:
            writer.join(30)

    stored = [t.trajectory_id for t in run_trajectories(store_address, run_id)]
    assert len(stored) == len(set(stored)), "no trajectory stored twice"
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} acknowledged trajectories were lost"
    volume = container_stack.engine.volume_path("trajectories")
    lines = [
        json.loads(line)["trajectory_id"]
        for path in volume.rglob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert all(lines.count(tid) == 1 for tid in acknowledged[:50] + acknowledged[-50:])


@pytest.mark.parametrize("dependency", ["env", "store"])
def test_agent_health_follows_its_dependencies(container_stack: ComposeStack, dependency: str) -> None:
    agent = container_stack.address("agent")
    engine = container_stack.engine
    container = engine.container(dependency)
    engine.run("stop", "-t", "5", container)
    try:
        wait_until(lambda: not check(agent, timeout_seconds=2), 30, "the agent reports NOT_SERVING")
        assert container_stack.health("agent") == "unhealthy"
    finally:
        engine.run("start", container)
    wait_restarted(container_stack, dependency)
    wait_until(lambda: check(agent, timeout_seconds=2), 30, "the agent reports SERVING again")
    assert container_stack.health("agent") == "healthy"


def test_an_llm_episode_through_the_containers_uses_the_local_model(container_stack: ComposeStack) -> None:
    """No endpoint configured: the agent container plays with the llm container's model."""
    result = call(
        container_stack.address("agent"),
        "alfagent.agent.v1.AgentService/RunEpisode",
        {
            "task_type": "pick_and_place_simple",
            "policy": "LLM",
            "run_id": "containers-llm",
            "settings": {"max_steps": 2},
        },
    )
    assert result["end_reason"] in ("WON", "STEP_LIMIT"), result
    [line] = stored_lines(container_stack.engine.volume_path("trajectories"), result["trajectory_id"])
    assert line["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert line["model_sha256"] == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert line["settings"]["base_url"] == "http://llm:8080/v1"
    assert len(line["steps"]) == 2
    for step in line["steps"]:
        assert step["raw_output"].strip() and step["usage"]["prompt_tokens"] > 0
