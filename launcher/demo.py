"""`make demo`: one ALFWorld episode played by the local model, then the expert on the same game.

Steps are printed as the agent streams them (StreamEpisode): the model's thoughts, the command
sent and what the game answered, with the time and tokens each step took. Without the model
(`make demo WITH_LLM=0`) only the expert's episode is played.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import grpc

from agent_service import episode_text
from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2

TASK_TYPE = "pick_and_place_simple"
# ~3 s a step on 2 quiet cores once the few-shot prompt is cached (the first takes 20-60 s). The
# expert needs 4-8 steps for this task type; the model, searching receptacle by receptacle, took 18
# on the first game (the bowl is on the 8th shelf it looks at). DEMO_MAX_STEPS changes it.
LLM_MAX_STEPS = 20
# No deadline for the model's episode: its steps print as they come, the agent bounds every LLM
# call (timeout, retries), and on 2 cores shared with other work one step took 10-100 s (measured),
# so any fixed deadline either cuts a slow but healthy run or means nothing. The expert's episode
# needs no LLM: hitting this means something is stuck.
EXPERT_EPISODE_TIMEOUT_SECONDS = 300


async def stream_episode(
    agent: agent_pb2_grpc.AgentServiceAsyncStub, request: agent_pb2.RunEpisodeRequest, timeout: float | None
) -> agent_pb2.EpisodeResult:
    result = agent_pb2.EpisodeResult()
    async for event in agent.StreamEpisode(request, timeout=timeout):
        if event.HasField("result"):
            result = event.result
        print("\n".join(episode_text.event_lines(event)), flush=True)
    return result


async def run_demo(agent_addr: str, store_addr: str, store_dir: Path, *, with_llm: bool) -> int:
    # A run id per demo and policy: trajectory ids derive from (run id, game, attempt), so the two
    # episodes of the same game need two runs to be stored as two trajectories.
    run_id = time.strftime("demo-%Y%m%dT%H%M%S")
    max_steps = int(os.environ.get("DEMO_MAX_STEPS") or LLM_MAX_STEPS)
    async with (
        grpc.aio.insecure_channel(agent_addr) as agent_channel,
        grpc.aio.insecure_channel(store_addr) as store_channel,
    ):
        agent = agent_pb2_grpc.AgentServiceStub(agent_channel)
        store = store_pb2_grpc.StoreServiceStub(store_channel)
        game_selection: dict[str, str] = {"task_type": TASK_TYPE}
        llm_result = None
        if with_llm:
            print(
                f"== the local model plays ({TASK_TYPE}, at most {max_steps} steps; the first "
                "step processes the whole few-shot prompt and takes longest) ==\n",
                flush=True,
            )
            request = agent_pb2.RunEpisodeRequest(
                task_type=TASK_TYPE,
                policy=trajectory_pb2.LLM,
                run_id=f"{run_id}-model",
                settings=trajectory_pb2.AgentSettings(max_steps=max_steps),
            )
            llm_result = await stream_episode(agent, request, timeout=None)
            stored = await store.GetTrajectory(
                store_pb2.GetTrajectoryRequest(trajectory_id=llm_result.trajectory_id), timeout=30
            )
            print(f"model: {stored.model}   weights sha256: {stored.model_sha256 or '(not reported)'}")
            game_selection = {"game_id": llm_result.game_id}
            print("\n== the expert plays the same game ==\n", flush=True)
        expert_request = agent_pb2.RunEpisodeRequest(
            policy=trajectory_pb2.EXPERT,
            run_id=f"{run_id}-expert",
            **game_selection,  # type: ignore[arg-type]  # str fields by name; mypy cannot match the keys
        )
        expert_result = await stream_episode(agent, expert_request, EXPERT_EPISODE_TIMEOUT_SECONDS)
    print()
    for label, result in (("model", llm_result), ("expert", expert_result)):
        if result is not None:
            print(f"{label:>7}: won={result.won} in {result.steps} steps ({result.trajectory_id})")
    print(f"trajectories stored in {store_dir}/ (one JSON line each); this demo's runs: {run_id}-*")
    fields = "{policy, model, model_sha256, won, end_reason}"
    print(f"  jq -c 'select(.run_id | startswith(\"{run_id}\")) | {fields}' {store_dir}/*.jsonl")
    llm_failed = llm_result is not None and llm_result.end_reason == trajectory_pb2.LLM_ERROR
    return 0 if expert_result.won and not llm_failed else 1
