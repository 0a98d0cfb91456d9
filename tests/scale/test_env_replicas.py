"""The agent over several env replicas, each a real env_service process on its own port."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent_service.env_replicas import EnvReplicas, ReplicatedEnvClient
from agent_service.replicas import parse_env_addr
from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from tests.scale.cluster import Cluster, cluster


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("replicas"), 3) as made:
        made.start_agent(made.env_addr)
        yield made


def env_stub(address: str) -> env_pb2_grpc.EnvServiceStub:
    return env_pb2_grpc.EnvServiceStub(grpc.insecure_channel(address))


def live(address: str) -> int:
    return env_stub(address).GetStats(env_pb2.GetStatsRequest(), timeout=5).live_sessions


def health(address: str) -> int:
    stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(address))
    return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status)


def wait_for(predicate: object, timeout_seconds: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"not true within {timeout_seconds}s")


def test_sessions_reset_through_the_agent_spread_over_replicas_and_stay_pinned(three: Cluster) -> None:
    through_agent = env_stub(three.agents[0].address)
    sessions = [
        through_agent.Reset(env_pb2.ResetRequest(task_type="pick_and_place_simple", index=i), timeout=60)
        for i in range(6)
    ]
    assert [live(env.address) for env in three.envs] == [2, 2, 2]
    # GetStats through the agent sums the replicas.
    total = through_agent.GetStats(env_pb2.GetStatsRequest(), timeout=10)
    assert (total.live_sessions, total.workers, len(total.worker_pids)) == (6, 3, 3)
    for reset in sessions:
        step = through_agent.Step(env_pb2.StepRequest(session_id=reset.session_id, action="look"), timeout=30)
        assert step.step_index == 1
    for reset in sessions:
        assert through_agent.Close(env_pb2.CloseRequest(session_id=reset.session_id), timeout=10).closed
    assert [live(env.address) for env in three.envs] == [0, 0, 0]

    # A session reset on a replica directly is found through the agent all the same.
    direct = env_stub(three.envs[2].address).Reset(env_pb2.ResetRequest(), timeout=60)
    step = through_agent.Step(env_pb2.StepRequest(session_id=direct.session_id, action="look"), timeout=30)
    assert step.step_index == 1
    assert through_agent.Close(env_pb2.CloseRequest(session_id=direct.session_id), timeout=10).closed
    assert not through_agent.Close(env_pb2.CloseRequest(session_id=direct.session_id), timeout=10).closed
    with pytest.raises(grpc.RpcError) as missing:
        through_agent.Step(env_pb2.StepRequest(session_id=direct.session_id, action="look"), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as bad:
        through_agent.Step(env_pb2.StepRequest(session_id="not-a-session", action="look"), timeout=10)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_evaluation_plays_on_every_replica(three: Cluster) -> None:
    agent = agent_pb2_grpc.AgentServiceStub(grpc.insecure_channel(three.agents[0].address))
    before = [env.log_path.read_text().count('"session opened"') for env in three.envs]
    events = list(
        agent.RunEvaluation(
            agent_pb2.RunEvaluationRequest(
                limit=6, concurrency=6, policy=trajectory_pb2.EXPERT, run_id="replicas-expert"
            ),
            timeout=300,
        )
    )
    results = [e.progress.episode for e in events if e.HasField("progress")]
    assert len(results) == 6 and all(r.won for r in results)
    after = [env.log_path.read_text().count('"session opened"') for env in three.envs]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)


def test_a_dns_name_names_the_replicas(three: Cluster) -> None:
    # localhost has one or two addresses here (127.0.0.1, ::1), all reaching the first replica.
    agent = three.start_agent(f"dns:///localhost:{three.envs[0].port}", name="agent-dns")
    stub = agent_pb2_grpc.AgentServiceStub(grpc.insecure_channel(agent.address))
    result = stub.RunEpisode(
        agent_pb2.RunEpisodeRequest(policy=trajectory_pb2.EXPERT, run_id="replicas-dns"), timeout=120
    )
    assert result.won


def _evaluate(agent: str, run_id: str, limit: int, out: list[agent_pb2.EpisodeResult]) -> None:
    stub = agent_pb2_grpc.AgentServiceStub(grpc.insecure_channel(agent))
    request = agent_pb2.RunEvaluationRequest(
        limit=limit,
        concurrency=6,
        policy=trajectory_pb2.RANDOM,
        run_id=run_id,
        settings=trajectory_pb2.AgentSettings(max_steps=50, seed=3),
    )
    for event in stub.RunEvaluation(request, timeout=600):
        if event.HasField("progress"):
            out.append(event.progress.episode)


def test_a_replica_killed_mid_evaluation_fails_only_its_own_sessions(tmp_path: Path) -> None:
    with cluster(tmp_path, 3) as made:
        agent = made.start_agent(made.env_addr)
        victim = made.envs[1]
        results: list[agent_pb2.EpisodeResult] = []
        evaluation = threading.Thread(target=_evaluate, args=(agent.address, "kill-1", 18, results))
        evaluation.start()
        wait_for(lambda: live(victim.address) >= 1, 120)
        held = live(victim.address)
        os.killpg(victim.process.pid, signal.SIGKILL)
        evaluation.join(timeout=600)
        assert not evaluation.is_alive(), "the evaluation hangs"

        assert len(results) == 18
        failed = [r for r in results if r.end_reason == trajectory_pb2.ENV_ERROR]
        # The sessions the dead replica held fail, and only about as many: the rest (and every
        # episode begun after the kill) play on the two replicas left.
        assert 1 <= len(failed) <= held + 1, (held, [r.error for r in failed])
        assert all("UNAVAILABLE" in r.error for r in failed)
        store = store_pb2_grpc.StoreServiceStub(grpc.insecure_channel(made.store.address))
        stored = store.ListTrajectories(store_pb2.ListTrajectoriesRequest(run_id="kill-1", page_size=100))
        assert len(stored.trajectories) == 18

        # New episodes go to the replicas left; the agent stays SERVING.
        again: list[agent_pb2.EpisodeResult] = []
        _evaluate(agent.address, "kill-2", 6, again)
        assert len(again) == 6 and not [r for r in again if r.end_reason == trajectory_pb2.ENV_ERROR]
        assert health(agent.address) == health_pb2.HealthCheckResponse.SERVING

        # With no replica left the agent says NOT_SERVING, and SERVING once one is back.
        port = made.envs[0].port
        for env in (made.envs[0], made.envs[2]):
            env.stop()
        wait_for(lambda: health(agent.address) == health_pb2.HealthCheckResponse.NOT_SERVING)
        made.envs.append(made.start_env("env-back", port=port))
        wait_for(lambda: health(agent.address) == health_pb2.HealthCheckResponse.SERVING)
        stub = agent_pb2_grpc.AgentServiceStub(grpc.insecure_channel(agent.address))
        result = stub.RunEpisode(
            agent_pb2.RunEpisodeRequest(policy=trajectory_pb2.EXPERT, run_id="kill-3"), timeout=120
        )
        assert result.won


class ChangingReplicas(EnvReplicas):
    """ENV_ADDR as a DNS name would answer it while replicas come and go: set by the test."""

    def __init__(self, addresses: list[str]) -> None:
        super().__init__(parse_env_addr(",".join(addresses)))
        self.answer = list(addresses)

    async def resolve(self) -> list[str]:
        return list(self.answer)


def test_replicas_that_appear_and_disappear_between_resolutions(three: Cluster) -> None:
    a, b = (env.address for env in three.envs[:2])

    async def main() -> None:
        replicas = ChangingReplicas([a])
        client = ReplicatedEnvClient(replicas)
        await replicas.wait_ready()
        first = await client.reset(env_pb2.ResetRequest())
        assert replicas.replicas.replica_of(first.session_id) == a
        # b appears: the next sessions go there, a being busier.
        replicas.answer = [a, b]
        await replicas.refresh()
        second = await client.reset(env_pb2.ResetRequest())
        assert replicas.replicas.replica_of(second.session_id) == b
        # a disappears from the name: no new sessions there, but its session plays on.
        replicas.answer = [b]
        await replicas.refresh()
        for _ in range(3):
            session = await client.reset(env_pb2.ResetRequest())
            assert replicas.replicas.replica_of(session.session_id) == b
            await client.close(session.session_id)
        assert (await client.step(first.session_id, "look")).step_index == 1
        assert a in replicas.replicas.known()
        # Once its last session is closed, a is forgotten (its channel closed)...
        assert await client.close(first.session_id)
        await replicas.refresh()
        assert a not in replicas.replicas.known()
        # ...and when it comes back it takes sessions again, over a new channel.
        replicas.answer = [a, b]
        await replicas.refresh()
        third = await client.reset(env_pb2.ResetRequest())
        assert replicas.replicas.replica_of(third.session_id) == a
        assert (await client.step(third.session_id, "look")).step_index == 1
        for session_id in (second.session_id, third.session_id):
            await client.close(session_id)
        await replicas.close()

    asyncio.run(main())
