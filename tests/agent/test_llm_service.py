"""The LLM policy through the real services (env, store, agent as processes), with the LLM played
by the fake OpenAI server these tests start on 127.0.0.1 (so they need locally started services).

The stack started by `services` has a scrubbed environment (no OPENAI_* variables): requests name
the model and base_url, and the agent sends the placeholder key "no-key".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from launcher.processes import REPO_ROOT, start_service
from launcher.stack import start_stack
from tests.agent.fake_openai import FakeOpenAI
from tests.conftest import Services, scrubbed_environ

pytestmark = pytest.mark.slow


@pytest.fixture
def local(services: Services) -> Services:
    if services.store_dir is None:
        pytest.skip("the fake LLM listens on 127.0.0.1: needs locally started services")
    return services


@pytest.fixture(scope="module")
def llm_server(services: Services) -> Iterator[FakeOpenAI]:
    # On the port the test stack's agent allow-lists (an endpoint a request names must be), one
    # for the module: the agent keeps connections to it open from one test to the next.
    with FakeOpenAI(api_key="no-key", port=services.llm_port) as server:
        yield server


@pytest.fixture
def llm(llm_server: FakeOpenAI) -> FakeOpenAI:
    llm_server.reset(api_key="no-key")
    return llm_server


def expert_plan(env_address: str, game_id: str) -> list[str]:
    with grpc.insecure_channel(env_address) as channel:
        env = env_pb2_grpc.EnvServiceStub(channel)
        reset = env.Reset(env_pb2.ResetRequest(game_id=game_id, with_expert_plan=True), timeout=120)
        env.Close(env_pb2.CloseRequest(session_id=reset.session_id), timeout=30)
    return list(reset.expert_plan)


def first_game(env_address: str, task_type: str) -> str:
    with grpc.insecure_channel(env_address) as channel:
        env = env_pb2_grpc.EnvServiceStub(channel)
        page = env.ListGames(
            env_pb2.ListGamesRequest(split="generated_eval", task_type=task_type, page_size=1)
        )
    return page.games[0].game_id


def test_scripted_llm_episode_wins_and_every_step_is_stored(local: Services, llm: FakeOpenAI) -> None:
    game_id = first_game(local.env, "pick_and_place_simple")
    plan = expert_plan(local.env, game_id)
    llm.script("think: I will follow the plan I know.", *plan)
    request = agent_pb2.RunEpisodeRequest(
        game_id=game_id,
        policy=trajectory_pb2.LLM,
        run_id="llm-scripted",
        settings=trajectory_pb2.AgentSettings(
            model="scripted", base_url=llm.base_url, grounding="exact", prompt_mode="admissible"
        ),
    )
    with grpc.insecure_channel(local.agent) as channel:
        result = agent_pb2_grpc.AgentServiceStub(channel).RunEpisode(request, timeout=300)
    assert result.won and result.end_reason == trajectory_pb2.WON, result.error
    assert result.steps == len(plan) and result.usage.prompt_tokens > 0
    with grpc.insecure_channel(local.store) as channel:
        store = store_pb2_grpc.StoreServiceStub(channel)
        trajectory = store.GetTrajectory(store_pb2.GetTrajectoryRequest(trajectory_id=result.trajectory_id))
    assert trajectory.policy == trajectory_pb2.LLM and trajectory.model == "scripted"
    assert trajectory.settings.prompt_mode == "admissible" and trajectory.settings.grounding == "exact"
    assert trajectory.settings.base_url == llm.base_url
    # The service's defaults are recorded for the settings the request left out (the note is off by
    # default: 0), each present so a reader tells "none" from "not recorded".
    assert (trajectory.settings.max_repeated_actions, trajectory.settings.repeat_note_after) == (10, 0)
    assert trajectory.settings.HasField("repeat_note_after")
    assert [s.action for s in trajectory.steps] == plan
    assert [s.raw_output for s in trajectory.steps] == plan
    assert trajectory.steps[0].thought == "I will follow the plan I know."
    assert all(s.grounding == "exact" and s.admissible for s in trajectory.steps)
    assert all(s.usage.prompt_tokens > 0 and s.usage.completion_tokens > 0 for s in trajectory.steps)
    assert trajectory.usage.prompt_tokens == sum(s.usage.prompt_tokens for s in trajectory.steps)
    assert all(s.llm_latency_ms > 0 for s in trajectory.steps)
    # The few-shot examples are real expert play of training games, with our thoughts.
    system = llm.requests[0].messages[0]["content"]
    assert "Example 2:" in system and "> think: To solve the task, I need to find and take" in system
    assert "Commands you can use now:" in llm.requests[0].messages[-1]["content"]


def test_unauthorized_ends_at_once_with_llm_error_and_is_stored(local: Services, llm: FakeOpenAI) -> None:
    llm.api_key = "the-server-wants-another-key"
    request = agent_pb2.RunEpisodeRequest(
        task_type="pick_and_place_simple",
        policy=trajectory_pb2.LLM,
        run_id="llm-401",
        settings=trajectory_pb2.AgentSettings(model="scripted", base_url=llm.base_url),
    )
    with grpc.insecure_channel(local.agent) as channel:
        result = agent_pb2_grpc.AgentServiceStub(channel).RunEpisode(request, timeout=300)
    assert result.end_reason == trajectory_pb2.LLM_ERROR and result.steps == 0 and "401" in result.error
    assert len(llm.requests) == 1
    with grpc.insecure_channel(local.store) as channel:
        store = store_pb2_grpc.StoreServiceStub(channel)
        stored = store.GetTrajectory(store_pb2.GetTrajectoryRequest(trajectory_id=result.trajectory_id))
    assert stored.end_reason == trajectory_pb2.LLM_ERROR and "401" in stored.error


def test_llm_without_a_model_and_no_local_model_service_is_unavailable(local: Services) -> None:
    # No model named, no OPENAI_BASE_URL: the agent asks its local `llm` (LLM_ADDR, down here)
    # which model it serves, and cannot know.
    with grpc.insecure_channel(local.agent) as channel:
        agent = agent_pb2_grpc.AgentServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            agent.RunEpisode(agent_pb2.RunEpisodeRequest(policy=trajectory_pb2.LLM), timeout=60)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "model" in (raised.value.details() or "")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent_service", *args],
        cwd=REPO_ROOT,
        env=scrubbed_environ(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_eval_prints_the_table_and_the_generated_games_note(local: Services, llm: FakeOpenAI) -> None:
    result = run_cli(
        "eval",
        *("--agent-addr", local.agent, "--model", "scripted", "--base-url", llm.base_url),
        *("--limit", "3", "--concurrency", "3", "--max-steps", "2", "--run-id", "llm-cli"),
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "run_id llm-cli" in out and "95% CI" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("look_at", "pick_", "all "))]
    assert len(rows) == 4 and rows[-1][:3] == ["all", "3", "0"]
    assert "not comparable to published ALFWorld numbers" in out
    assert "3/3" in result.stderr, "the progress bar ran"
    again = run_cli(
        "eval", "--agent-addr", local.agent, "--policy", "EXPERT", "--limit", "3", "--run-id", "llm-cli"
    )
    assert again.returncode == 0 and "3 episodes were already stored" in again.stdout


def test_cli_episode_prints_the_steps(local: Services) -> None:
    result = run_cli(
        "episode", "--agent-addr", local.agent, "--policy", "EXPERT", "--task-type", "pick_and_place_simple"
    )
    assert result.returncode == 0, result.stderr
    assert (
        " 1. > go to " in result.stdout
        and "won: True  end_reason: WON" in result.stdout
        and "trajectory: t-" in result.stdout
    )


def stored_trajectory_ids(store_address: str, run_id: str) -> list[str]:
    ids: list[str] = []
    token = ""
    with grpc.insecure_channel(store_address) as channel:
        store = store_pb2_grpc.StoreServiceStub(channel)
        while True:
            page = store.ListTrajectories(
                store_pb2.ListTrajectoriesRequest(run_id=run_id, page_size=100, page_token=token), timeout=60
            )
            ids += [t.trajectory_id for t in page.trajectories]
            token = page.next_page_token
            if not token:
                return ids


def test_an_evaluation_killed_halfway_and_rerun_stores_each_episode_exactly_once(tmp_path: Path) -> None:
    key = "sk-integration-secret-0123456789"
    with FakeOpenAI(api_key=key, delay_seconds=0.05) as llm:
        environ = scrubbed_environ(
            ENV_WORKERS="2", OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY=key, ALFAGENT_MODEL="scripted"
        )
        stack = start_stack(run_dir=tmp_path / "logs", store_dir=tmp_path / "store", environ=environ)
        try:
            request = agent_pb2.RunEvaluationRequest(
                split="generated_eval",
                limit=12,
                concurrency=4,
                policy=trajectory_pb2.LLM,
                run_id="killed-halfway",
                settings=trajectory_pb2.AgentSettings(max_steps=6),
            )
            seen = 0
            with grpc.insecure_channel(stack.agent.address) as channel, pytest.raises(grpc.RpcError):
                for event in agent_pb2_grpc.AgentServiceStub(channel).RunEvaluation(request, timeout=300):
                    seen += event.HasField("progress")
                    if seen == 6:
                        os.killpg(stack.agent.process.pid, signal.SIGKILL)
                        stack.agent.process.wait(timeout=30)
            stored_before = len(stored_trajectory_ids(stack.store.address, "killed-halfway"))
            assert 6 <= stored_before < 12

            stack.agent = start_service(
                "agent_service",
                port=0,
                log_path=tmp_path / "logs" / "agent_service-restarted.log",
                environ={**environ, "ENV_ADDR": stack.env.address, "STORE_ADDR": stack.store.address},
            )
            stack.agent.wait_serving()
            with grpc.insecure_channel(stack.agent.address) as channel:
                events = list(agent_pb2_grpc.AgentServiceStub(channel).RunEvaluation(request, timeout=300))
            summary = events[-1].summary
            assert summary.overall.episodes == 12 and summary.resumed == stored_before
            ids = stored_trajectory_ids(stack.store.address, "killed-halfway")
            assert len(ids) == len(set(ids)) == 12
        finally:
            stack.stop()
        assert len(llm.requests) > 12 and all(r.authorization == f"Bearer {key}" for r in llm.requests)
    # The key reached the LLM and nothing else: not the logs, not the stored trajectories.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key not in path.read_text(errors="replace"), f"the API key leaked into {path}"
