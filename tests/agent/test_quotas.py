"""Quotas: what one caller may hold at once and ask for; beyond them RESOURCE_EXHAUSTED naming the
quota, and the others go on."""

from __future__ import annotations

import pytest

from agent_service.convert import evaluation_from_proto
from agent_service.quotas import QuotaLimits, Quotas
from agent_service.settings import EpisodeSettings
from alfagent.agent.v1 import agent_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import errors


def test_a_caller_beyond_its_quota_is_refused_naming_it_and_others_go_on() -> None:
    quotas = Quotas(QuotaLimits(evaluations_in_flight=2))
    with quotas.hold("alice", "evaluations_in_flight"), quotas.hold("alice", "evaluations_in_flight"):
        with (
            pytest.raises(
                errors.ResourceExhausted,
                match=r"caller alice already has 2 evaluations in flight "
                r"\(ALFAGENT_QUOTA_EVALUATIONS_IN_FLIGHT=2\)",
            ),
            quotas.hold("alice", "evaluations_in_flight"),
        ):
            pass
        with quotas.hold("bob", "evaluations_in_flight"):
            pass
    # Released when the calls end, also when they fail.
    with pytest.raises(RuntimeError), quotas.hold("alice", "evaluations_in_flight"):
        raise RuntimeError("the evaluation failed")
    with quotas.hold("alice", "evaluations_in_flight"), quotas.hold("alice", "evaluations_in_flight"):
        pass


def test_a_step_budget_beyond_the_cap_is_refused() -> None:
    quotas = Quotas(QuotaLimits(max_steps=100))
    quotas.check_max_steps(100)
    with pytest.raises(errors.ResourceExhausted, match="ALFAGENT_QUOTA_MAX_STEPS=100"):
        quotas.check_max_steps(2**31 - 1)


def test_task_types_are_checked_and_each_taken_once() -> None:
    request = agent_pb2.RunEvaluationRequest(
        policy=trajectory_pb2.EXPERT,
        task_types=["pick_and_place_simple", "look_at_obj_in_light", "pick_and_place_simple"],
    )
    assert evaluation_from_proto(request, EpisodeSettings()).task_types == (
        "pick_and_place_simple",
        "look_at_obj_in_light",
    )
    request.task_types.append("juggle")
    with pytest.raises(errors.InvalidRequest, match=r"unknown task types \['juggle'\]"):
        evaluation_from_proto(request, EpisodeSettings())
