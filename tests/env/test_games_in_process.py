"""ENV_WORKERS=0: the env service plays the games in its own process (env_service/inprocess.py).

The whole contract holds against `python -m env_service` started that way; GetStats names the
service itself as the one worker; a replan forks the gRPC server's process and its plan wins; and
the service answers while a step of a game is busy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from launcher.processes import ServiceProcess
from tests.env.contract import TIMEOUT, EnvContract, channel_to
from tests.env.envproc import env_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("env_in_process")
    with env_service(
        root,
        ENV_WORKERS="0",
        ENV_CATALOG_CACHE=str(root / "catalog.json"),
        ENV_TRANSLATION_CACHE=str(root / "translations"),
    ) as (started, _):
        yield started


@pytest.fixture
def channel(service: ServiceProcess) -> Iterator[grpc.Channel]:
    yield from channel_to(service.address)


class TestEnvWithoutWorkerProcesses(EnvContract):
    pass


def test_the_one_worker_is_the_service_itself(service: ServiceProcess, channel: grpc.Channel) -> None:
    stats = env_pb2_grpc.EnvServiceStub(channel).GetStats(env_pb2.GetStatsRequest(), timeout=TIMEOUT)
    assert stats.workers == 1 and list(stats.worker_pids) == [service.process.pid]
    assert stats.worker_restarts == 0 and stats.rss_bytes > 0


def detour_after_two_moves(
    env: env_pb2_grpc.EnvServiceStub, game_id: str
) -> tuple[env_pb2.ResetResponse, env_pb2.StepRequest]:
    """A session on `game_id` that followed its expert plan twice, and the step that leaves it."""
    session = env.Reset(env_pb2.ResetRequest(game_id=game_id, with_expert_plan=True), timeout=TIMEOUT)
    plan = list(session.expert_plan)
    for action in plan[:2]:
        step = env.Step(env_pb2.StepRequest(session_id=session.session_id, action=action), timeout=TIMEOUT)
    detours = [c for c in step.admissible_commands if c.startswith("go to") and c != plan[2]]
    return session, env_pb2.StepRequest(session_id=session.session_id, action=detours[len(detours) // 2])


def game_id(env: env_pb2_grpc.EnvServiceStub, task_type: str, index: int) -> str:
    page = env.ListGames(
        env_pb2.ListGamesRequest(split="generated_eval", task_type=task_type, page_size=index + 1),
        timeout=TIMEOUT,
    )
    return str(page.games[index].game_id)


def test_a_replan_forks_the_service_and_its_plan_wins(channel: grpc.Channel) -> None:
    env = env_pb2_grpc.EnvServiceStub(channel)
    session, detour = detour_after_two_moves(env, game_id(env, "pick_and_place_simple", 0))
    step = env.Step(detour, timeout=TIMEOUT)
    plan = list(step.expert_plan)
    assert plan, "the replan gave no plan"
    for action in plan:
        step = env.Step(env_pb2.StepRequest(session_id=session.session_id, action=action), timeout=TIMEOUT)
    assert step.won
    env.Close(env_pb2.CloseRequest(session_id=session.session_id), timeout=TIMEOUT)


def test_the_service_answers_while_a_game_is_busy(channel: grpc.Channel) -> None:
    env = env_pb2_grpc.EnvServiceStub(channel)
    # On this kitchen the replan first gives the whole problem half a second, then plans the
    # reduced one (bench/RESULTS.md): the step takes well over a second.
    session, detour = detour_after_two_moves(env, game_id(env, "pick_two_obj_and_place", 2))
    busy = env.Step.future(detour, timeout=TIMEOUT)
    time.sleep(0.1)
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
    stats = env.GetStats(env_pb2.GetStatsRequest(), timeout=TIMEOUT)
    assert not busy.done(), "health and stats waited for the game"
    assert health.status == health_pb2.HealthCheckResponse.SERVING and stats.live_sessions >= 1
    assert busy.result().expert_plan
    env.Close(env_pb2.CloseRequest(session_id=session.session_id), timeout=TIMEOUT)
