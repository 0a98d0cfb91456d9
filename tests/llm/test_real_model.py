"""One episode played by the real local model through the running services (env, store, agent, llm).

Needs llama-server and the default model in the cache (`make llm`); without them the test is
skipped with the reason, unless ALFAGENT_REQUIRE_LLM=1 (CI sets it), which makes that a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import grpc
import pytest

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from launcher.llm import missing_parts
from launcher.processes import REPO_ROOT
from launcher.stack import Stack, start_stack
from llm_service import models
from tests.conftest import scrubbed_environ

pytestmark = pytest.mark.slow

# Ends an episode may legally have when the model answered every call.
LEGAL_END_REASONS = {trajectory_pb2.WON, trajectory_pb2.STEP_LIMIT, trajectory_pb2.REPEATED_ACTION}


def cache_environ() -> dict[str, str]:
    """Where the model and binary are: the developer's ALFAGENT_CACHE (scrubbed for the services)."""
    names = ("ALFAGENT_CACHE", "LLM_MODEL_DIR", "LLAMA_SERVER")
    return {name: os.environ[name] for name in names if os.environ.get(name)}


@pytest.fixture(scope="module")
def stack_with_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = missing_parts({**cache_environ()})
    if missing:
        reason = f"the local model is not built/fetched ({'; '.join(missing)}): run `make llm`"
        if os.environ.get("ALFAGENT_REQUIRE_LLM") == "1":
            pytest.fail(f"ALFAGENT_REQUIRE_LLM=1 but {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("real-llm")
    environ = scrubbed_environ(
        ENV_WORKERS="1", ENV_CATALOG_CACHE=str(root / "catalog.json"), **cache_environ()
    )
    stack = start_stack(run_dir=root / "logs", store_dir=root / "store", environ=environ, llm_port=0)
    try:
        yield stack
    finally:
        stack.stop()


def test_the_server_names_the_model_and_its_hash(stack_with_llm: Stack) -> None:
    assert stack_with_llm.llm is not None
    with urllib.request.urlopen(f"http://{stack_with_llm.llm.address}/props", timeout=10) as response:
        props = json.loads(response.read())
    model = models.selected({})
    assert props["model_alias"] == model.name
    assert props["model_path"].endswith(f"{model.name}-{model.sha256}.gguf")


def test_a_real_model_episode_is_recorded_with_the_model_and_its_hash(stack_with_llm: Stack) -> None:
    request = agent_pb2.RunEpisodeRequest(
        task_type="pick_and_place_simple",
        policy=trajectory_pb2.LLM,
        run_id="real-model",
        settings=trajectory_pb2.AgentSettings(max_steps=3),
    )
    with grpc.insecure_channel(stack_with_llm.agent.address) as channel:
        # The first call processes the whole few-shot prompt: ~20-60 s on 2 cores.
        result = agent_pb2_grpc.AgentServiceStub(channel).RunEpisode(request, timeout=600)
    with grpc.insecure_channel(stack_with_llm.store.address) as channel:
        trajectory = store_pb2_grpc.StoreServiceStub(channel).GetTrajectory(
            store_pb2.GetTrajectoryRequest(trajectory_id=result.trajectory_id), timeout=30
        )
    model = models.selected({})
    assert trajectory.model == model.name
    assert trajectory.model_sha256 == model.sha256
    assert trajectory.end_reason in LEGAL_END_REASONS, (trajectory.end_reason, trajectory.error)
    assert 1 <= len(trajectory.steps) <= 3
    for step in trajectory.steps:
        assert step.raw_output.strip(), step
        assert step.usage.prompt_tokens > 0 and step.usage.completion_tokens > 0, step
    assert trajectory.usage.prompt_tokens >= sum(step.usage.prompt_tokens for step in trajectory.steps)


def test_a_real_model_episode_with_a_skill_library_through_the_services(stack_with_llm: Stack) -> None:
    """A library extracted (by the command users run) from expert games of generated_train, then an
    episode of the real model on a generated_eval game with it: the trajectory names the library
    and what each step was shown; a game the library was made from is refused."""
    with grpc.insecure_channel(stack_with_llm.agent.address) as channel:
        agent = agent_pb2_grpc.AgentServiceStub(channel)
        expert = agent_pb2.RunEvaluationRequest(
            split="generated_train",
            task_types=["pick_and_place_simple"],
            limit=2,
            policy=trajectory_pb2.EXPERT,
            run_id="real-model-train",
        )
        events = list(agent.RunEvaluation(expert, timeout=300))
    seen_game = next(e.progress.episode.game_id for e in events if e.HasField("progress"))
    extracted = subprocess.run(
        [sys.executable, "-m", "agent_service", "skills", "extract", "--run-id", "real-model-train",
         "--store", stack_with_llm.store.address],
        cwd=REPO_ROOT, env=scrubbed_environ(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert extracted.returncode == 0, extracted.stderr
    library_id = json.loads(extracted.stdout.strip().splitlines()[-1])["library_id"]
    settings = trajectory_pb2.AgentSettings(max_steps=2, skill_library=library_id)
    with grpc.insecure_channel(stack_with_llm.agent.address) as channel:
        agent = agent_pb2_grpc.AgentServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            agent.RunEpisode(
                agent_pb2.RunEpisodeRequest(game_id=seen_game, policy=trajectory_pb2.LLM, settings=settings),
                timeout=120,
            )
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION and seen_game in str(
            refused.value.details()
        )
        request = agent_pb2.RunEpisodeRequest(
            task_type="pick_and_place_simple",
            policy=trajectory_pb2.LLM,
            run_id="real-model-skills",
            settings=settings,
        )
        result = agent.RunEpisode(request, timeout=600)
    with grpc.insecure_channel(stack_with_llm.store.address) as channel:
        trajectory = store_pb2_grpc.StoreServiceStub(channel).GetTrajectory(
            store_pb2.GetTrajectoryRequest(trajectory_id=result.trajectory_id), timeout=30
        )
    assert trajectory.settings.skill_library == library_id and not trajectory.seen_game
    assert trajectory.end_reason in LEGAL_END_REASONS, (trajectory.end_reason, trajectory.error)
    assert all(any(s.startswith("demonstration:") for s in step.skills_shown) for step in trajectory.steps)
