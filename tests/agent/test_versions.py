"""The versions a stored trajectory names are those of the env that played it.

The agent's own process may have a different alfworld, or none (its image has none): through the
real gateways and clients, an env that reports its versions at reset must find exactly those in
the trajectory the agent appends to the store, next to the agent's own alfagent version.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from agent_service.episode import EpisodeRequest, PolicyKind
from agent_service.gateways import RemoteEnv, RemoteStore
from agent_service.policies import ExpertPolicy
from agent_service.runner import EpisodeRunner
from alfagent.env.v1 import env_pb2, env_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_clients.env import EnvClient
from alfagent_clients.store import StoreClient
from alfagent_common.versions import alfagent_version, package_version

GAME = trajectory_pb2.Game(
    game_id="generated_eval/pick_and_place_simple-Pencil-None-Shelf-1/trial_T0",
    split="generated_eval",
    task_type="pick_and_place_simple",
    task="put a pencil in shelf",
    source=trajectory_pb2.GENERATED,
)
# Versions no installed package has, so they can only have come from the env's answer.
ENV_VERSIONS = trajectory_pb2.Versions(alfagent="0.0.0-env", alfworld="9.8.7-env", textworld="6.5.4-env")


class OneStepEnv(env_pb2_grpc.EnvServiceServicer):
    def __init__(self, versions: trajectory_pb2.Versions | None) -> None:
        self.versions = versions

    async def Reset(self, request: Any, context: Any) -> env_pb2.ResetResponse:
        return env_pb2.ResetResponse(
            session_id="s1",
            game=GAME,
            observation="You are in the middle of a room.",
            admissible_commands=["look"],
            expert_plan=["look"],
            versions=self.versions,
        )

    async def Step(self, request: Any, context: Any) -> env_pb2.StepResponse:
        return env_pb2.StepResponse(observation="Done.", won=True, done=True, step_index=1)

    async def Close(self, request: Any, context: Any) -> env_pb2.CloseResponse:
        return env_pb2.CloseResponse(closed=True)


class CapturingStore(store_pb2_grpc.StoreServiceServicer):
    def __init__(self) -> None:
        self.appended: list[trajectory_pb2.Trajectory] = []

    async def AppendTrajectory(self, request: Any, context: Any) -> store_pb2.AppendTrajectoryResponse:
        self.appended.append(request.trajectory)
        trajectory_id = request.trajectory.trajectory_id
        return store_pb2.AppendTrajectoryResponse(trajectory_id=trajectory_id, created=True)


def stored_versions(env_versions: trajectory_pb2.Versions | None) -> trajectory_pb2.Versions:
    store = CapturingStore()  # type: ignore[abstract]  # answers AppendTrajectory only

    async def run() -> None:
        server = grpc.aio.server()
        # Each implements only the methods an episode calls; the others are never called, but the
        # generated stubs declare them all abstract: hence the ignore.
        env_pb2_grpc.add_EnvServiceServicer_to_server(OneStepEnv(env_versions), server)  # type: ignore[abstract]  # see above
        store_pb2_grpc.add_StoreServiceServicer_to_server(store, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                env, sink = RemoteEnv(EnvClient(channel)), RemoteStore(StoreClient(channel))
                runner = EpisodeRunner(env, sink, lambda _: ExpertPolicy())
                outcome = await runner.run(EpisodeRequest(policy=PolicyKind.EXPERT, run_id="r1"))
                assert outcome.won
        finally:
            await server.stop(None)

    asyncio.run(run())
    assert len(store.appended) == 1
    return store.appended[0].versions


def test_the_stored_versions_are_the_envs_and_alfagent_is_the_agents() -> None:
    versions = stored_versions(ENV_VERSIONS)
    assert (versions.alfworld, versions.textworld) == ("9.8.7-env", "6.5.4-env")
    assert versions.alfagent == alfagent_version() != ENV_VERSIONS.alfagent
    # Not what this (agent) process has installed, whatever that is.
    assert versions.alfworld != package_version("alfworld")
    assert versions.textworld != package_version("textworld")


@pytest.mark.parametrize("reported", [None, trajectory_pb2.Versions()], ids=["no versions", "empty"])
def test_an_env_that_reports_no_versions_gives_unknown(reported: trajectory_pb2.Versions | None) -> None:
    # An env service older than the field: the trajectory says so rather than guessing.
    versions = stored_versions(reported)
    assert (versions.alfworld, versions.textworld) == ("unknown", "unknown")
