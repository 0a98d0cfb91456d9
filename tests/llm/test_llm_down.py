"""The agent with its local model service down: LLM episodes fail, are stored, and the agent serves on."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from launcher.llm import free_port
from launcher.stack import Stack, start_stack
from tests.conftest import scrubbed_environ

pytestmark = pytest.mark.slow

MAX_ATTEMPTS = 3
MAX_WAIT_SECONDS = 2


@pytest.fixture(scope="module")
def stack_without_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """env, store and agent; the agent's LLM_ADDR names a port where nothing listens."""
    root = tmp_path_factory.mktemp("llm-down")
    environ = scrubbed_environ(
        ENV_WORKERS="1",
        ENV_CATALOG_CACHE=str(root / "catalog.json"),
        LLM_ADDR=f"127.0.0.1:{free_port()}",
        ALFAGENT_LLM_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        ALFAGENT_LLM_MAX_WAIT_SECONDS=str(MAX_WAIT_SECONDS),
    )
    stack = start_stack(run_dir=root / "logs", store_dir=root / "store", environ=environ)
    try:
        yield stack
    finally:
        stack.stop()


def run_episode(stack: Stack, model: str | None = None, run_id: str = "") -> agent_pb2.EpisodeResult:
    request = agent_pb2.RunEpisodeRequest(
        task_type="pick_and_place_simple",
        policy=trajectory_pb2.LLM,
        run_id=run_id,
        settings=trajectory_pb2.AgentSettings(max_steps=3, model=model),
    )
    with grpc.insecure_channel(stack.agent.address) as channel:
        result: agent_pb2.EpisodeResult = agent_pb2_grpc.AgentServiceStub(channel).RunEpisode(
            request, timeout=120
        )
    return result


def test_an_episode_ends_llm_error_after_bounded_retries_and_is_stored(stack_without_llm: Stack) -> None:
    started = time.monotonic()
    result = run_episode(stack_without_llm, model="qwen2.5-coder-1.5b-instruct-q4_k_m", run_id="llm-down")
    took = time.monotonic() - started
    assert result.end_reason == trajectory_pb2.LLM_ERROR
    assert result.steps == 0 and not result.won
    # The retries gave up within their budget, not after the RPC's own deadline.
    assert took < 60, took
    with grpc.insecure_channel(stack_without_llm.store.address) as channel:
        stored = store_pb2_grpc.StoreServiceStub(channel).GetTrajectory(
            store_pb2.GetTrajectoryRequest(trajectory_id=result.trajectory_id), timeout=30
        )
    assert stored.end_reason == trajectory_pb2.LLM_ERROR
    assert stored.error
    assert stored.model == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert stored.model_sha256 == ""  # the server was never asked successfully
    retries = sum(stored.retry_causes.values())
    assert 1 <= retries <= MAX_ATTEMPTS - 1, dict(stored.retry_causes)


def test_without_a_model_named_the_caller_learns_the_service_is_down(stack_without_llm: Stack) -> None:
    with pytest.raises(grpc.RpcError) as failed:
        run_episode(stack_without_llm)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "make up" in (failed.value.details() or "")


def test_the_agent_keeps_serving(stack_without_llm: Stack) -> None:
    run_episode(stack_without_llm, model="any-model")
    with grpc.insecure_channel(stack_without_llm.agent.address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert stack_without_llm.agent.process.poll() is None


def test_the_stack_can_be_started_without_llm(stack_without_llm: Stack) -> None:
    assert stack_without_llm.llm is None
    assert [service.name for service in stack_without_llm.services] == [
        "agent_service",
        "env_service",
        "store_service",
    ]
