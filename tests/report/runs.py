"""Runs for the report tests: real evaluations played by the services, and stored edge cases.

Real: EXPERT and RANDOM evaluations of the same few generated games, through AgentService.
Stored directly (AppendTrajectory): episodes that ended in LLM_ERROR with retries, and one whose
text holds HTML and script tags — the store keeps what it is given, as it would from a model.
"""

from __future__ import annotations

import time

import grpc

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2

# Sets window.__injected if the page ever runs trajectory text as HTML or script.
INJECTED_THOUGHT = '<script>window.__injected = "script"</script>'
INJECTED_OBSERVATION = '<img src="x" onerror="window.__injected = \'img\'"> You see </script><b>bold</b>'
INJECTED_ACTION = "</script><script>window.__injected = 'action'</script>"


def evaluate(
    agent_addr: str, run_id: str, policy: str, limit: int, max_steps: int = 30
) -> agent_pb2.EvaluationSummary:
    """Play `limit` generated_eval games (round-robin over task types) with `policy`; the summary."""
    request = agent_pb2.RunEvaluationRequest(
        split="generated_eval",
        limit=limit,
        concurrency=2,
        policy=trajectory_pb2.Policy.Value(policy),
        run_id=run_id,
        settings=trajectory_pb2.AgentSettings(max_steps=max_steps, seed=7),
    )
    with grpc.insecure_channel(agent_addr) as channel:
        for event in agent_pb2_grpc.AgentServiceStub(channel).RunEvaluation(request, timeout=600):
            if event.HasField("summary"):
                return event.summary
    raise AssertionError(f"evaluation {run_id} ended without a summary")


def stored(store_addr: str, run_id: str) -> list[trajectory_pb2.Trajectory]:
    """Every trajectory of a run, as the store lists them (oldest first)."""
    found: list[trajectory_pb2.Trajectory] = []
    token = ""
    with grpc.insecure_channel(store_addr) as channel:
        stub = store_pb2_grpc.StoreServiceStub(channel)
        while True:
            request = store_pb2.ListTrajectoriesRequest(run_id=run_id, page_size=100, page_token=token)
            page = stub.ListTrajectories(request, timeout=30)
            found.extend(page.trajectories)
            token = page.next_page_token
            if not token:
                return found


def _append(store_addr: str, trajectories: list[trajectory_pb2.Trajectory]) -> None:
    with grpc.insecure_channel(store_addr) as channel:
        stub = store_pb2_grpc.StoreServiceStub(channel)
        for trajectory in trajectories:
            stub.AppendTrajectory(store_pb2.AppendTrajectoryRequest(trajectory=trajectory), timeout=30)


def _game(task_type: str, index: int) -> trajectory_pb2.Game:
    return trajectory_pb2.Game(
        game_id=f"generated_eval/{task_type}-made-up-{index}/trial_T0",
        split="generated_eval",
        task_type=task_type,
        task="put a made-up object in a made-up place.",
        source=trajectory_pb2.GENERATED,
    )


def store_llm_error_run(store_addr: str, run_id: str) -> None:
    """Two LLM episodes that ended in LLM_ERROR after retries (as a dead endpoint leaves them)."""
    trajectories = []
    for index in range(2):
        trajectory = trajectory_pb2.Trajectory(
            trajectory_id=f"t-report-llm-error-{run_id}-{index}",
            run_id=run_id,
            game=_game("pick_and_place_simple", index),
            policy=trajectory_pb2.LLM,
            model="some-model",
            end_reason=trajectory_pb2.LLM_ERROR,
            error="LLM call failed after 6 attempts: connection refused",
            initial_observation="You are in the middle of a room.",
            duration_ms=4200,
            settings=trajectory_pb2.AgentSettings(
                prompt_mode="react",
                grounding="exact",
                max_steps=30,
                base_url="http://user:hunter2@llm.example:8080/v1?api_key=sk-secret",
            ),
        )
        trajectory.retry_causes["connection"] = 5
        trajectory.retry_causes["503"] = index
        trajectory.started_at.FromSeconds(int(time.time()))
        trajectory.finished_at.FromSeconds(int(time.time()) + 4)
        trajectories.append(trajectory)
    _append(store_addr, trajectories)


def store_html_run(store_addr: str, run_id: str) -> None:
    """One LLM episode whose thought, output, command and observation hold HTML and script tags."""
    trajectory = trajectory_pb2.Trajectory(
        trajectory_id=f"t-report-html-{run_id}",
        run_id=run_id,
        game=_game("look_at_obj_in_light", 0),
        policy=trajectory_pb2.LLM,
        model="<b>model</b>",
        end_reason=trajectory_pb2.STEP_LIMIT,
        initial_observation="<script>window.__injected = 'opening'</script>",
        settings=trajectory_pb2.AgentSettings(prompt_mode="react", grounding="nearest", max_steps=1),
        error="",
    )
    trajectory.steps.add(
        index=1,
        thought=INJECTED_THOUGHT,
        raw_output=INJECTED_ACTION,
        action=INJECTED_ACTION,
        grounding="none",
        observation=INJECTED_OBSERVATION,
        admissible_commands=["look", "<i>inventory</i>"],
        goal_progress=0.5,
    )
    _append(store_addr, [trajectory])
