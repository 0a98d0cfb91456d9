"""Conversions between the agent's plain records and protobuf messages, at the edge only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace

from google.protobuf.timestamp_pb2 import Timestamp

from agent_service.episode import (
    EndReason,
    EpisodeOutcome,
    EpisodeRecord,
    EpisodeRequest,
    GameRef,
    PolicyKind,
    StepRecord,
    Usage,
)
from agent_service.evaluation import EvaluationRequest, EvaluationSummary, Progress
from agent_service.runner import new_run_id
from agent_service.settings import EpisodeSettings
from agent_service.settings_proto import settings_from_request, settings_to_proto
from agent_service.summary import TaskTypeSummary
from alfagent.agent.v1 import agent_pb2
from alfagent.env.v1 import env_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import errors, ids
from alfagent_common.game_proto import game_to_proto, source_from_proto
from alfagent_common.games import DEFAULT_SPLIT, TASK_TYPES
from alfagent_common.versions import UNKNOWN, GameVersions, alfagent_version


def episode_request(
    policy: trajectory_pb2.Policy.ValueType,
    settings: trajectory_pb2.AgentSettings,
    run_id: str,
    defaults: EpisodeSettings,
) -> EpisodeRequest:
    """The policy and its settings a request names, checked and with the service's defaults
    filled in; no game (the caller adds it)."""
    if policy == trajectory_pb2.POLICY_UNSPECIFIED:
        raise errors.InvalidRequest("policy is required: one of LLM, EXPERT, RANDOM")
    # Checked before playing: the store would refuse the trajectory at the end otherwise.
    ids.check_optional_id(run_id, "run_id")
    kind = PolicyKind(trajectory_pb2.Policy.Name(policy))
    return EpisodeRequest(
        policy=kind,
        settings=settings_from_request(settings, defaults, llm=kind is PolicyKind.LLM),
        run_id=run_id,
    )


def request_from_proto(request: agent_pb2.RunEpisodeRequest, defaults: EpisodeSettings) -> EpisodeRequest:
    return replace(
        episode_request(request.policy, request.settings, request.run_id, defaults),
        game_id=request.game_id,
        split=request.split,
        task_type=request.task_type,
        index=request.index,
        attempt=request.attempt,
    )


def game_from_proto(game: trajectory_pb2.Game) -> GameRef:
    return GameRef(
        game_id=game.game_id,
        split=game.split,
        task_type=game.task_type,
        task=game.task,
        source=source_from_proto(game.source),
    )


def reset_request_to_proto(request: EpisodeRequest, with_expert_plan: bool) -> env_pb2.ResetRequest:
    return env_pb2.ResetRequest(
        game_id=request.game_id,
        split=request.split,
        task_type=request.task_type,
        index=request.index,
        with_expert_plan=with_expert_plan,
        max_steps=request.settings.max_steps,
    )


def game_versions_from_proto(versions: trajectory_pb2.Versions) -> GameVersions:
    # An env service older than the field answers none.
    return GameVersions(alfworld=versions.alfworld or UNKNOWN, textworld=versions.textworld or UNKNOWN)


def usage_to_proto(usage: Usage) -> trajectory_pb2.Usage:
    return trajectory_pb2.Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        cached_prompt_tokens=usage.cached_prompt_tokens,
    )


def step_to_proto(step: StepRecord) -> trajectory_pb2.Step:
    decision = step.decision
    return trajectory_pb2.Step(
        index=step.index,
        thought=decision.thought,
        action=decision.action,
        raw_output=decision.raw_output,
        observation=step.observation,
        reward=1.0 if step.won else 0.0,
        done=step.done,
        won=step.won,
        goal_progress=step.goal_progress,
        latency_ms=step.latency_ms,
        usage=usage_to_proto(decision.usage),
        retries=decision.retries,
        grounding=decision.grounding,
        admissible_commands=step.admissible_commands,
        llm_latency_ms=decision.llm_latency_ms,
        env_latency_ms=step.env_latency_ms,
        admissible=step.admissible,
        skills_shown=decision.skills_shown,
        skill=decision.skill,
    )


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def trajectory_to_proto(record: EpisodeRecord) -> trajectory_pb2.Trajectory:
    request = record.request
    llm = request.policy is PolicyKind.LLM
    return trajectory_pb2.Trajectory(
        trajectory_id=record.trajectory_id,
        run_id=record.run_id,
        game=game_to_proto(record.game),
        policy=trajectory_pb2.Policy.Value(request.policy.value),
        model=request.settings.model if llm else "",
        started_at=_timestamp(record.started_at),
        finished_at=_timestamp(record.finished_at),
        steps=[step_to_proto(step) for step in record.steps],
        won=record.won,
        end_reason=trajectory_pb2.EndReason.Value(record.end_reason.value),
        usage=usage_to_proto(record.usage),
        # alfagent is this agent's own version; alfworld and textworld are the env's.
        versions=trajectory_pb2.Versions(
            alfagent=alfagent_version(),
            alfworld=record.env_versions.alfworld,
            textworld=record.env_versions.textworld,
        ),
        goal_progress=record.goal_progress,
        initial_observation=record.initial_observation,
        initial_admissible_commands=record.initial_admissible_commands,
        attempt=request.attempt,
        seed=request.settings.seed,
        settings=settings_to_proto(request.settings, llm=llm),
        error=record.error,
        retry_causes=record.retry_causes,
        duration_ms=record.duration_ms,
        dropped_turns=record.dropped_turns,
        model_sha256=request.model_sha256 if llm else "",
        seen_game=record.seen_game,
    )


def outcome_to_proto(outcome: EpisodeOutcome) -> agent_pb2.EpisodeResult:
    return agent_pb2.EpisodeResult(
        trajectory_id=outcome.trajectory_id,
        game_id=outcome.game.game_id,
        task_type=outcome.game.task_type,
        won=outcome.won,
        end_reason=trajectory_pb2.EndReason.Value(outcome.end_reason.value),
        steps=outcome.steps,
        goal_progress=outcome.goal_progress,
        usage=usage_to_proto(outcome.usage),
        duration_ms=outcome.duration_ms,
        run_id=outcome.run_id,
        error=outcome.error,
        task=outcome.game.task,
        resumed=outcome.resumed,
    )


def outcome_from_trajectory(trajectory: trajectory_pb2.Trajectory) -> EpisodeOutcome:
    """A stored trajectory read back as the outcome of its episode (for resumed evaluations)."""
    return EpisodeOutcome(
        trajectory_id=trajectory.trajectory_id,
        run_id=trajectory.run_id,
        game=game_from_proto(trajectory.game),
        won=trajectory.won,
        end_reason=EndReason(trajectory_pb2.EndReason.Name(trajectory.end_reason)),
        steps=len(trajectory.steps),
        goal_progress=trajectory.goal_progress,
        usage=Usage(
            trajectory.usage.prompt_tokens,
            trajectory.usage.completion_tokens,
            trajectory.usage.cached_prompt_tokens,
        ),
        duration_ms=trajectory.duration_ms,
        error=trajectory.error,
    )


def known_task_types(task_types: Sequence[str]) -> tuple[str, ...]:
    """The task types asked for, each once, in order; one ALFWorld does not have is refused."""
    unknown = sorted(set(task_types) - set(TASK_TYPES))
    if unknown:
        raise errors.InvalidRequest(f"unknown task types {unknown}: ALFWorld's are {', '.join(TASK_TYPES)}")
    return tuple(dict.fromkeys(task_types))


def evaluation_from_proto(
    request: agent_pb2.RunEvaluationRequest, defaults: EpisodeSettings
) -> EvaluationRequest:
    if request.limit < 0:
        raise errors.InvalidRequest(f"limit must not be negative, got {request.limit}")
    if request.concurrency < 0:
        raise errors.InvalidRequest(f"concurrency must not be negative, got {request.concurrency}")
    episode = episode_request(request.policy, request.settings, request.run_id, defaults)
    return EvaluationRequest(
        run_id=request.run_id or new_run_id(),
        split=request.split or DEFAULT_SPLIT,
        task_types=known_task_types(request.task_types),
        limit=request.limit,
        concurrency=request.concurrency or 1,
        episode=episode,
    )


def task_type_summary_to_proto(row: TaskTypeSummary) -> trajectory_pb2.TaskTypeStats:
    return trajectory_pb2.TaskTypeStats(**asdict(row))


def progress_to_proto(progress: Progress) -> agent_pb2.EvaluationEvent:
    return agent_pb2.EvaluationEvent(
        progress=agent_pb2.EvaluationProgress(
            completed=progress.completed, total=progress.total, episode=outcome_to_proto(progress.outcome)
        )
    )


def summary_to_proto(summary: EvaluationSummary) -> agent_pb2.EvaluationEvent:
    return agent_pb2.EvaluationEvent(
        summary=agent_pb2.EvaluationSummary(
            run_id=summary.run_id,
            by_task_type=[task_type_summary_to_proto(row) for row in summary.rows],
            overall=task_type_summary_to_proto(summary.overall),
            resumed=summary.resumed,
        )
    )
