"""alfagent.agent.v1.AgentService: a thin adapter over `EpisodeRunner` and `Evaluator`."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from agent_service import convert
from agent_service.episode import EpisodeOutcome, EpisodeRecord, EpisodeRequest, StepRecord
from agent_service.evaluation import Evaluator, Progress
from agent_service.metrics import AgentMetrics
from agent_service.quotas import Quotas
from agent_service.runner import EpisodeRunner
from agent_service.settings import EpisodeSettings
from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent_common.auth import current_caller
from alfagent_common.game_proto import game_to_proto
from alfagent_common.grpc_errors import Context

Event = TypeVar("Event")
Result = TypeVar("Result")
# Fills in what the request's endpoint says it serves (agent_service/llm/served_model.py).
Resolve = Callable[[EpisodeRequest], Awaitable[EpisodeRequest]]


async def _unchanged(request: EpisodeRequest) -> EpisodeRequest:
    return request


async def stream_while_running(
    work: Awaitable[Result], events: asyncio.Queue[Event], last: Callable[[Result], Event]
) -> AsyncIterator[Event]:
    """Yields the events `work` queues while it runs, then `last(result)`.

    If the caller goes away mid-stream, `work` is cancelled: an episode then ends as CANCELLED
    (and is still stored), an evaluation stops and can be resumed with the same run id.
    """
    task = asyncio.ensure_future(work)
    try:
        while not (task.done() and events.empty()):
            getter = asyncio.ensure_future(events.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
        yield last(task.result())
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(
        self,
        runner: EpisodeRunner,
        evaluator: Evaluator,
        defaults: EpisodeSettings,
        resolve: Resolve = _unchanged,
        metrics: AgentMetrics | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        self.runner = runner
        self.evaluator = evaluator
        self.defaults = defaults
        self.resolve = resolve
        self.metrics = metrics or AgentMetrics()
        self.quotas = quotas or Quotas()

    async def _episode(self, request: agent_pb2.RunEpisodeRequest) -> EpisodeRequest:
        episode = convert.request_from_proto(request, self.defaults)
        self.quotas.check_max_steps(episode.settings.max_steps)
        return await self.resolve(episode)

    async def RunEpisode(
        self, request: agent_pb2.RunEpisodeRequest, context: Context
    ) -> agent_pb2.EpisodeResult:
        with self.quotas.hold(current_caller.get().name, "episodes_in_flight"):
            episode = await self._episode(request)
            return convert.outcome_to_proto(await self.runner.run(episode))

    async def StreamEpisode(
        self, request: agent_pb2.RunEpisodeRequest, context: Context
    ) -> AsyncIterator[agent_pb2.EpisodeEvent]:
        with self.quotas.hold(current_caller.get().name, "episodes_in_flight"):
            async for event in self._stream_episode(await self._episode(request)):
                yield event

    async def _stream_episode(self, episode: EpisodeRequest) -> AsyncIterator[agent_pb2.EpisodeEvent]:
        events: asyncio.Queue[agent_pb2.EpisodeEvent] = asyncio.Queue()

        async def listen(record: EpisodeRecord, step: StepRecord | None) -> None:
            if step is None:
                started = agent_pb2.EpisodeStarted(
                    trajectory_id=record.trajectory_id,
                    game=game_to_proto(record.game),
                    observation=record.initial_observation,
                )
                await events.put(agent_pb2.EpisodeEvent(started=started))
            else:
                await events.put(agent_pb2.EpisodeEvent(step=convert.step_to_proto(step)))

        def result(outcome: EpisodeOutcome) -> agent_pb2.EpisodeEvent:
            return agent_pb2.EpisodeEvent(result=convert.outcome_to_proto(outcome))

        async for event in stream_while_running(self.runner.run(episode, listen), events, result):
            yield event

    async def RunEvaluation(
        self, request: agent_pb2.RunEvaluationRequest, context: Context
    ) -> AsyncIterator[agent_pb2.EvaluationEvent]:
        with self.quotas.hold(current_caller.get().name, "evaluations_in_flight"):
            evaluation = convert.evaluation_from_proto(request, self.defaults)
            self.quotas.check_max_steps(evaluation.episode.settings.max_steps)
            # Asked once for the whole evaluation: its episodes share one endpoint.
            evaluation = dataclasses.replace(evaluation, episode=await self.resolve(evaluation.episode))
            events: asyncio.Queue[agent_pb2.EvaluationEvent] = asyncio.Queue()

            async def listen(progress: Progress) -> None:
                await events.put(convert.progress_to_proto(progress))

            with self.metrics.evaluating():
                async for event in stream_while_running(
                    self.evaluator.run(evaluation, listen), events, convert.summary_to_proto
                ):
                    yield event
