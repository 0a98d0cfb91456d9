"""alfagent.agent.v1.AgentService: a thin adapter over `EpisodeRunner`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from agent_service import convert
from agent_service.episode import EpisodeRecord, StepRecord
from agent_service.runner import EpisodeRunner
from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, runner: EpisodeRunner, default_max_steps: int) -> None:
        self.runner = runner
        self.default_max_steps = default_max_steps

    async def RunEpisode(
        self, request: agent_pb2.RunEpisodeRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.EpisodeResult:
        episode = convert.request_from_proto(request, self.default_max_steps)
        record, created = await self.runner.run(episode)
        return convert.result_to_proto(record, resumed=not created)

    async def StreamEpisode(
        self, request: agent_pb2.RunEpisodeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.EpisodeEvent]:
        episode = convert.request_from_proto(request, self.default_max_steps)
        events: asyncio.Queue[agent_pb2.EpisodeEvent] = asyncio.Queue()

        async def listen(record: EpisodeRecord, step: StepRecord | None) -> None:
            if step is None:
                started = agent_pb2.EpisodeStarted(
                    trajectory_id=record.trajectory_id,
                    game=convert.game_to_proto(record.game),
                    observation=record.initial_observation,
                )
                await events.put(agent_pb2.EpisodeEvent(started=started))
            else:
                await events.put(agent_pb2.EpisodeEvent(step=convert.step_to_proto(step)))

        episode_task = asyncio.create_task(self.runner.run(episode, listen))
        try:
            while not (episode_task.done() and events.empty()):
                getter = asyncio.create_task(events.get())
                await asyncio.wait({getter, episode_task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            record, created = episode_task.result()
            yield agent_pb2.EpisodeEvent(result=convert.result_to_proto(record, resumed=not created))
        finally:
            # The caller went away: cancelling ends the episode as CANCELLED, still stored.
            if not episode_task.done():
                episode_task.cancel()
                await asyncio.gather(episode_task, return_exceptions=True)
