"""One real ALFWorld episode, offline, with the EXPERT policy, printed for a person to read."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import grpc

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2


def _indent(text: str) -> str:
    return textwrap.indent(text.strip(), "      ")


async def run_demo(agent_addr: str, store_addr: str, store_dir: Path) -> int:
    async with (
        grpc.aio.insecure_channel(agent_addr) as agent_channel,
        grpc.aio.insecure_channel(store_addr) as store_channel,
    ):
        agent = agent_pb2_grpc.AgentServiceStub(agent_channel)
        store = store_pb2_grpc.StoreServiceStub(store_channel)
        request = agent_pb2.RunEpisodeRequest(
            task_type="pick_and_place_simple",
            policy=trajectory_pb2.EXPERT,
            # A run id per demo, so that every demo stores its own trajectory.
            run_id=time.strftime("demo-%Y%m%dT%H%M%S"),
        )
        print("AgentService/RunEpisode  task_type=pick_and_place_simple  policy=EXPERT\n", flush=True)
        result = await agent.RunEpisode(request, timeout=300)
        trajectory = await store.GetTrajectory(
            store_pb2.GetTrajectoryRequest(trajectory_id=result.trajectory_id), timeout=30
        )

    game = trajectory.game
    print(f"game:  {game.game_id}  ({trajectory_pb2.GameSource.Name(game.source).lower()} game)")
    print(f"task:  {game.task}\n")
    print(_indent(trajectory.initial_observation), "\n")
    for step in trajectory.steps:
        print(f"  {step.index:>2}. > {step.action}")
        print(_indent(step.observation))
    print()
    print(
        f"won: {result.won}   end_reason: {trajectory_pb2.EndReason.Name(result.end_reason)}   "
        f"steps: {result.steps}   duration: {result.duration_ms} ms"
    )
    print(f"trajectory {result.trajectory_id} stored in {store_dir}/ (one JSON line per trajectory)")
    print(f"  jq 'select(.trajectory_id == \"{result.trajectory_id}\")' {store_dir}/*.jsonl")
    return 0 if result.won else 1
