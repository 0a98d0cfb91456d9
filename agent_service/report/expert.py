"""The expert's plan for each game the report shows, beside the viewer's episode.

Two sources, in this order:
1. an EXPERT episode of the same game among the runs read for the report (the runs given, and
   `--expert-run-id`): the expert policy plays the env's expert plan, so its commands are the plan,
   and this costs nothing more;
2. with `--env`, EnvService `Reset{game_id, with_expert_plan}` then `Close`, for the games still
   without one: the plan from the game's start, as the env computes it for the expert policy. A
   reset costs ~0.05 s for a game the env has loaded and up to ~1 s otherwise, so this is opt-in.
A game with neither says so in the viewer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent_service.env_replicas import EnvReplicas, ReplicatedEnvClient
from agent_service.replicas import parse_env_addr
from alfagent.env.v1 import env_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common.errors import AlfagentError, Unavailable


@dataclass(frozen=True)
class ExpertPlan:
    commands: list[str]
    source: str


def plans_from_expert_runs(trajectories: Iterable[trajectory_pb2.Trajectory]) -> dict[str, ExpertPlan]:
    """Each game's commands in an EXPERT episode, preferring one the expert won."""
    plans: dict[str, ExpertPlan] = {}
    won: set[str] = set()
    for trajectory in trajectories:
        game_id = trajectory.game.game_id
        if trajectory.policy != trajectory_pb2.EXPERT or game_id in won:
            continue
        outcome = "" if trajectory.won else ", which did not win"
        commands = [step.action for step in trajectory.steps]
        plans[game_id] = ExpertPlan(commands, f"the EXPERT episode of run {trajectory.run_id}{outcome}")
        if trajectory.won:
            won.add(game_id)
    return plans


async def plans_from_env(
    env_addr: str, game_ids: Sequence[str], *, concurrency: int = 4
) -> tuple[dict[str, ExpertPlan], list[str]]:
    """Plans from EnvService for `game_ids`; the second value says what could not be had, and why."""
    plans: dict[str, ExpertPlan] = {}
    failures: list[str] = []
    limit = asyncio.Semaphore(concurrency)
    # Once the env is found down, the other games are not tried one by one.
    unreachable: list[str] = []
    # ENV_ADDR's forms: one address, a list of replicas, or a DNS name of replicas.
    replicas = EnvReplicas(parse_env_addr(env_addr))
    try:
        await replicas.refresh()
        env = ReplicatedEnvClient(replicas)

        async def fetch(game_id: str) -> None:
            async with limit:
                if unreachable:
                    return
                try:
                    reset = await env.reset(env_pb2.ResetRequest(game_id=game_id, with_expert_plan=True))
                except Unavailable as error:
                    unreachable.append(str(error))
                    return
                except AlfagentError as error:
                    failures.append(f"{game_id}: {error}")
                    return
                try:
                    plans[game_id] = ExpertPlan(list(reset.expert_plan), f"EnvService at {env_addr}")
                finally:
                    await env.close(reset.session_id)

        await asyncio.gather(*(fetch(game_id) for game_id in game_ids))
    finally:
        await replicas.close()
    if unreachable:
        failures.insert(0, f"env service at {env_addr} unreachable: {unreachable[0]}")
    return plans, failures
