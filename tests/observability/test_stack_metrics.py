"""The three services as real processes, each serving its metrics on a port of its own: after an
EXPERT evaluation of 6 games, their scrapes (read with the Prometheus client's own parser) agree
with what the store holds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from launcher.llm import free_port
from launcher.stack import Stack, start_stack
from tests.conftest import scrubbed_environ
from tests.observability.scrape import Scrape, scrape
from tests.report.runs import stored

RUN_ID = "run-metrics-6"
GAMES = 6


@dataclass(frozen=True)
class Evaluated:
    stack: Stack
    store_dir: Path
    trajectories: list[trajectory_pb2.Trajectory]
    agent: Scrape
    env: Scrape
    store: Scrape


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluated]:
    root = tmp_path_factory.mktemp("metrics-stack")
    stack = start_stack(
        run_dir=root / "logs",
        store_dir=root / "store",
        environ=scrubbed_environ(
            ENV_WORKERS="2",
            ENV_CATALOG_CACHE=str(root / "catalog.json"),
            # Empty at the start: every translation is a miss.
            ENV_TRANSLATION_CACHE=str(root / "translations"),
        ),
        metrics_ports=(free_port(), free_port(), free_port()),
    )
    try:
        request = agent_pb2.RunEvaluationRequest(
            limit=GAMES, concurrency=2, policy=trajectory_pb2.EXPERT, run_id=RUN_ID
        )
        with grpc.insecure_channel(stack.agent.address) as channel:
            events = list(agent_pb2_grpc.AgentServiceStub(channel).RunEvaluation(request, timeout=600))
        assert events[-1].HasField("summary") and events[-1].summary.overall.wins == GAMES
        yield Evaluated(
            stack,
            root / "store",
            stored(stack.store.address, RUN_ID),
            scrape(stack.agent.metrics_port),
            scrape(stack.env.metrics_port),
            scrape(stack.store.metrics_port),
        )
    finally:
        stack.stop()


def stored_steps(evaluated: Evaluated) -> int:
    return sum(len(trajectory.steps) for trajectory in evaluated.trajectories)


def test_every_service_serves_on_its_metrics_port(evaluated: Evaluated) -> None:
    ports = [
        service.metrics_port
        for service in (evaluated.stack.agent, evaluated.stack.env, evaluated.stack.store)
    ]
    assert all(ports) and len(set(ports)) == 3
    assert len(evaluated.trajectories) == GAMES and stored_steps(evaluated) >= GAMES


def test_the_agent_counts_the_episodes_and_their_steps(evaluated: Evaluated) -> None:
    agent = evaluated.agent
    assert agent.value("alfagent_episodes_total", policy="EXPERT", end_reason="WON") == GAMES
    assert [s for s in agent.samples if s.name == "alfagent_episodes_total"] == [
        s for s in agent.samples if s.name == "alfagent_episodes_total" and s.labels["end_reason"] == "WON"
    ]
    assert agent.value("alfagent_episode_steps_count", policy="EXPERT") == GAMES
    assert agent.value("alfagent_episode_steps_sum", policy="EXPERT") == stored_steps(evaluated)
    assert agent.value("alfagent_step_seconds_count", policy="EXPERT") == stored_steps(evaluated)
    assert agent.value("alfagent_episodes_in_flight") == 0
    assert agent.value("alfagent_evaluations_in_flight") == 0
    # The expert asks no model.
    assert not [s for s in agent.samples if s.name.startswith("alfagent_llm_request_seconds")]
    assert agent.value("alfagent_llm_tokens_total", kind="prompt") == 0


def test_the_env_timed_every_step_the_trajectories_hold(evaluated: Evaluated) -> None:
    env = evaluated.env
    assert env.value("alfagent_env_step_seconds_count") == stored_steps(evaluated)
    assert env.value("alfagent_env_reset_seconds_count") == GAMES
    assert env.value("alfagent_env_live_sessions") == 0
    assert env.value("alfagent_env_sessions_refused_total") == 0
    assert env.value("alfagent_env_worker_restarts_total") == 0
    # Six games never met, each translated twice (plain, and optimised for replanning).
    assert env.value("alfagent_env_translation_cache_hits_total") == 0
    assert env.value("alfagent_env_translation_cache_misses_total") == 2 * GAMES


def test_the_store_counts_six_appends_stored(evaluated: Evaluated) -> None:
    store = evaluated.store
    assert store.value("alfagent_store_appends_total", result="stored") == GAMES
    for result in ("duplicate", "refused", "failed"):
        assert store.value("alfagent_store_appends_total", result=result) == 0
    assert store.value("alfagent_store_append_seconds_count") == GAMES
    assert store.value("alfagent_store_trajectories") == GAMES
    lines = sum(len(path.read_bytes()) for path in evaluated.store_dir.glob("trajectories-*.jsonl"))
    assert store.value("alfagent_store_disk_bytes") >= lines > 0
    assert store.value("alfagent_store_recovery_seconds") >= 0


def test_each_service_has_its_process_metrics(evaluated: Evaluated) -> None:
    for scraped in (evaluated.agent, evaluated.env, evaluated.store):
        assert scraped.value("process_resident_memory_bytes") > 0
        assert scraped.family_types["python_gc_collections"] == "counter"


def test_no_label_holds_a_run_trajectory_or_game_id(evaluated: Evaluated) -> None:
    ids = {RUN_ID}
    for trajectory in evaluated.trajectories:
        ids |= {trajectory.trajectory_id, trajectory.game.game_id}
    for scraped in (evaluated.agent, evaluated.env, evaluated.store):
        assert not any(identifier in value for value in scraped.label_values() for identifier in ids)
