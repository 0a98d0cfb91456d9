"""The live view of an evaluation: what `eval` prints while it runs."""

from __future__ import annotations

import subprocess
import sys

from agent_service.live_view import LiveView
from launcher.processes import REPO_ROOT
from tests.conftest import Services, scrubbed_environ


def test_success_so_far_per_task_type_speed_and_errors() -> None:
    view = LiveView(started=0.0)
    view.add("pick_and_place_simple", True, "WON", 6, 12_000, resumed=False)
    view.add("pick_and_place_simple", False, "LLM_ERROR", 2, 4_000, resumed=False)
    view.add("look_at_obj_in_light", False, "STEP_LIMIT", 50, 100_000, resumed=False)
    view.add("look_at_obj_in_light", True, "WON", 9, 0, resumed=True)
    lines = view.lines(now=120.0)
    assert lines[0].split()[:3] == ["look_at_obj_in_light", "1/2", "50%"]
    assert lines[1].split()[:3] == ["pick_and_place_simple", "1/2", "50%"] and "95% 9%-91%" in lines[1]
    assert "2/4" in lines[2] and "1.5 episodes/min" in lines[2] and "29 steps/min" in lines[2]
    assert "2.0 s a step" in lines[2] and "errors: LLM_ERROR 1" in lines[2] and "1 already stored" in lines[2]


def test_eval_prints_the_live_view_as_episodes_finish(services: Services) -> None:
    command = [
        sys.executable,
        "-m",
        "agent_service",
        "eval",
        "--agent-addr",
        services.agent,
        "--policy",
        "EXPERT",
    ]
    command += [
        "--limit",
        "4",
        "--concurrency",
        "2",
        "--live-every",
        "2",
        "--no-progress",
        "--run-id",
        "live-view",
    ]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=scrubbed_environ(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "after 2 of 4:" in result.stderr and "after 4 of 4:" in result.stderr
    final = result.stderr.split("after 4 of 4:")[1]
    assert "4/4" in final and "100%" in final and "errors: none" in final
