"""env_service under load and faults: session cap, idle expiry, a worker killed mid-episode.

Each case gets its own env_service process with the settings it needs; the service must keep
answering health checks and other sessions must be undisturbed throughout.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from tests.env.envproc import env_service


def serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def reset_status(env: env_pb2_grpc.EnvServiceStub) -> str:
    try:
        env.Reset(env_pb2.ResetRequest(task_type="pick_and_place_simple"), timeout=120)
    except grpc.RpcError as error:
        return error.code().name
    return "OK"


def test_200_concurrent_resets_against_a_cap_of_50(tmp_path: Path) -> None:
    with env_service(tmp_path, ENV_MAX_SESSIONS="50", ENV_WORKERS="2") as (service, env):
        with ThreadPoolExecutor(max_workers=64) as pool:
            results = list(pool.map(lambda _: reset_status(env), range(200)))
            assert serving(service.address)
        assert results.count("OK") == 50
        assert results.count("RESOURCE_EXHAUSTED") == 150
        stats = env.GetStats(env_pb2.GetStatsRequest())
        assert stats.live_sessions == 50 and stats.max_sessions == 50
        with pytest.raises(grpc.RpcError) as caught:
            env.Reset(env_pb2.ResetRequest(), timeout=30)
        assert "ENV_MAX_SESSIONS" in (caught.value.details() or "")


def test_concurrent_resets_are_spread_over_the_workers(tmp_path: Path) -> None:
    with env_service(tmp_path, ENV_WORKERS="2") as (_, env), ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(lambda _: reset_status(env), range(8))) == ["OK"] * 8
        assert list(env.GetStats(env_pb2.GetStatsRequest()).worker_sessions) == [4, 4]


def test_sessions_of_a_game_stay_on_the_worker_that_translated_it_until_it_is_too_busy(
    tmp_path: Path,
) -> None:
    with env_service(tmp_path, ENV_WORKERS="2") as (_, env):
        placements = []
        for _ in range(4):
            env.Reset(env_pb2.ResetRequest(index=0), timeout=60)
            placements.append(list(env.GetStats(env_pb2.GetStatsRequest()).worker_sessions))
        # The game's worker keeps it while it has at most 2 sessions more than the other.
        assert placements == [[1, 0], [2, 0], [3, 0], [3, 1]]


def test_idle_sessions_are_closed_after_the_ttl(tmp_path: Path) -> None:
    with env_service(tmp_path, ENV_SESSION_TTL_SECONDS="1", ENV_WORKERS="1") as (_, env):
        idle = env.Reset(env_pb2.ResetRequest(), timeout=60)
        deadline = time.monotonic() + 20
        while env.GetStats(env_pb2.GetStatsRequest()).live_sessions and time.monotonic() < deadline:
            time.sleep(0.2)
        with pytest.raises(grpc.RpcError) as caught:
            env.Step(env_pb2.StepRequest(session_id=idle.session_id, action="look"), timeout=30)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_worker_killed_mid_episode_fails_only_its_own_session(tmp_path: Path) -> None:
    with env_service(tmp_path, ENV_WORKERS="2") as (service, env):
        # Two different games, new to both workers: least-loaded placement puts one on each.
        sessions = [env.Reset(env_pb2.ResetRequest(index=index), timeout=60) for index in range(2)]
        assert list(env.GetStats(env_pb2.GetStatsRequest()).worker_sessions) == [1, 1]
        for session in sessions:
            env.Step(env_pb2.StepRequest(session_id=session.session_id, action="look"), timeout=30)
        workers = list(env.GetStats(env_pb2.GetStatsRequest()).worker_pids)
        assert len(workers) == 2
        assert {p.pid for p in psutil.Process(service.process.pid).children()} >= set(workers)
        os.kill(workers[0], signal.SIGKILL)
        time.sleep(0.5)

        outcomes = {}
        for session in sessions:
            try:
                env.Step(env_pb2.StepRequest(session_id=session.session_id, action="inventory"), timeout=30)
                outcomes[session.session_id] = "OK"
            except grpc.RpcError as error:
                outcomes[session.session_id] = error.code().name
                assert session.session_id in (error.details() or "")
                assert "crashed" in (error.details() or "")
        assert sorted(outcomes.values()) == ["ABORTED", "OK"]
        assert serving(service.address)

        # The worker was replaced: new sessions work on both workers again.
        stats = env.GetStats(env_pb2.GetStatsRequest())
        assert len(stats.worker_pids) == 2 and workers[0] not in stats.worker_pids
        assert stats.worker_restarts == 1
        for _ in range(2):
            fresh = env.Reset(env_pb2.ResetRequest(index=0), timeout=60)
            step = env.Step(env_pb2.StepRequest(session_id=fresh.session_id, action="look"), timeout=30)
            assert step.step_index == 1
