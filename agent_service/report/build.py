"""From the runs' trajectories and the expert plans to the page's two data blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agent_service.report.expert import ExpertPlan
from agent_service.report.summary import summarise_runs
from agent_service.report.viewer import STEP_FIELDS, episode_detail
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import __version__


def report_data(
    runs: Mapping[str, Sequence[trajectory_pb2.Trajectory]],
    plans: Mapping[str, ExpertPlan],
    warnings: Sequence[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(summary, details): details["episodes"][i] is the step-by-step trajectory of
    summary["episodes"][i]; each of its steps is a row of details["step_fields"]."""
    summary = summarise_runs(runs)
    for game in summary["games"]:
        plan = plans.get(game["id"])
        game["plan"] = plan.commands if plan else None
        game["plan_source"] = plan.source if plan else ""
    summary["generated_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    summary["alfagent_version"] = __version__
    summary["warnings"] = list(warnings)
    episodes = [episode_detail(trajectory) for trajectories in runs.values() for trajectory in trajectories]
    return summary, {"step_fields": list(STEP_FIELDS), "episodes": episodes}
