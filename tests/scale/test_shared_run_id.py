"""Two agents, one store, one run id at once: each game is stored exactly once, and both agents'
summaries are what the store holds (agent_service/evaluation.py says why)."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from tests.scale.cluster import cluster

GAMES = 12


def evaluate(
    agent: str, policy: trajectory_pb2.Policy.ValueType, summaries: dict[str, agent_pb2.EvaluationSummary]
) -> None:
    request = agent_pb2.RunEvaluationRequest(
        run_id="shared-run",
        limit=GAMES,
        concurrency=3,
        policy=policy,
        settings=trajectory_pb2.AgentSettings(max_steps=8, seed=3),
    )
    with grpc.insecure_channel(agent) as channel:
        events = list(agent_pb2_grpc.AgentServiceStub(channel).RunEvaluation(request, timeout=600))
    summaries[trajectory_pb2.Policy.Name(policy)] = events[-1].summary


def stored(store: str) -> list[trajectory_pb2.Trajectory]:
    found: list[trajectory_pb2.Trajectory] = []
    token = ""
    with grpc.insecure_channel(store) as channel:
        stub = store_pb2_grpc.StoreServiceStub(channel)
        while True:
            page = stub.ListTrajectories(
                store_pb2.ListTrajectoriesRequest(run_id="shared-run", page_token=token), timeout=30
            )
            found.extend(page.trajectories)
            token = page.next_page_token
            if not token:
                return found


def test_two_agents_given_one_run_id_store_each_game_once(tmp_path: Path) -> None:
    with cluster(tmp_path, 1, env_settings={"ENV_WORKERS": "2"}) as made:
        expert = made.start_agent(made.env_addr, "agent-expert")
        randomly = made.start_agent(made.env_addr, "agent-random")
        summaries: dict[str, agent_pb2.EvaluationSummary] = {}
        runs = [
            threading.Thread(target=evaluate, args=(expert.address, trajectory_pb2.EXPERT, summaries)),
            threading.Thread(target=evaluate, args=(randomly.address, trajectory_pb2.RANDOM, summaries)),
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join(timeout=600)
        trajectories = stored(made.store.address)

    assert set(summaries) == {"EXPERT", "RANDOM"}
    assert len(trajectories) == GAMES
    assert len({t.game.game_id for t in trajectories}) == GAMES
    assert len({t.trajectory_id for t in trajectories}) == GAMES
    wins = sum(t.won for t in trajectories)
    for summary in summaries.values():
        assert summary.overall.episodes == GAMES
        assert summary.overall.wins == wins, "each summary reports what is stored"
