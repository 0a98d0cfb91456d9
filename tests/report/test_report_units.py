"""The report's parts on their own: no services, no browser."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html import unescape
from pathlib import Path

import pytest

from agent_service.report import page
from agent_service.report.settings import endpoint_host, run_settings
from agent_service.report.store import last_whole_line, latest_run_id
from agent_service.report.summary import (
    flipped_games,
    goal_progress_curve,
    success_by_task_type,
    summarise_runs,
)
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import run_stats


def trajectory(
    game_id: str, won: bool, progress: list[float], task_type: str = "pick"
) -> trajectory_pb2.Trajectory:
    made = trajectory_pb2.Trajectory(game=trajectory_pb2.Game(game_id=game_id, task_type=task_type), won=won)
    for index, value in enumerate(progress, start=1):
        made.steps.add(index=index, goal_progress=value)
    return made


@pytest.mark.parametrize(
    ("base_url", "shown"),
    [
        ("http://user:hunter2@llm.example:8080/v1?api_key=sk-secret", "http://llm.example:8080"),
        ("https://api.openai.com/v1", "https://api.openai.com"),
        ("http://[::1]:8000/v1/key/sk-abc", "http://[::1]:8000"),
        ("", ""),
        ("http://:99999/", "(unreadable endpoint)"),
    ],
)
def test_the_endpoint_is_shown_without_anything_that_may_hold_a_key(base_url: str, shown: str) -> None:
    assert endpoint_host(base_url) == shown


def test_json_in_a_script_element_cannot_close_it_or_open_a_tag() -> None:
    value = {"text": "</script><script>alert(1)</script><!-- & \u2028"}
    embedded = page.script_safe_json(value)
    assert re.search(r"[<>&\u2028]", embedded) is None
    assert json.loads(embedded) == value


def test_success_rows_carry_the_wilson_interval() -> None:
    rows = success_by_task_type([trajectory("a", True, [1.0]), trajectory("b", False, [0.0])])
    overall = rows[-1]
    assert overall["task_type"] == "all" and (overall["wins"], overall["episodes"]) == (1, 2)
    assert overall["low"] == pytest.approx(0.0945, abs=1e-4)
    assert overall["high"] == pytest.approx(0.9055, abs=1e-4)


def test_an_ended_episode_keeps_its_last_goal_progress_in_the_mean() -> None:
    curve = goal_progress_curve(
        [trajectory("a", True, [0.5, 1.0]), trajectory("b", False, [0.0, 0.0, 0.5, 0.5])]
    )
    assert curve == [0.25, 0.5, 0.75, 0.75]


def test_flipped_games_are_those_won_in_one_run_only_with_mcnemars_p() -> None:
    def played(*trajectories: trajectory_pb2.Trajectory) -> list[run_stats.Episode]:
        return [run_stats.episode_of(t) for t in trajectories]

    first = played(trajectory("g1", True, []), trajectory("g2", False, []), trajectory("g3", True, []))
    # g3 played twice in the second run: a win in any attempt counts.
    second = played(
        trajectory("g1", False, []),
        trajectory("g2", True, []),
        trajectory("g3", False, []),
        trajectory("g3", True, []),
    )
    index = {"g1": 0, "g2": 1, "g3": 2}
    assert flipped_games([first, second], index) == [
        {
            "a": 0,
            "b": 1,
            "common": 3,
            "won_in_a_only": [0],
            "won_in_b_only": [1],
            "won_in_both": 1,
            "won_in_neither": 0,
            "a_wins": 2,
            "b_wins": 2,
            "p_value": 1.0,
            "by_task_type": [
                {"task_type": "pick", "games": 3, "a_wins": 2, "b_wins": 2, "a_only": 1, "b_only": 1}
            ],
        }
    ]
    assert flipped_games([first, played(trajectory("other", True, []))], {**index, "other": 3}) == []


def test_two_runs_of_ten_games_get_mcnemars_exact_p_and_their_command_figures() -> None:
    def run(won: list[bool], admissible: bool) -> list[trajectory_pb2.Trajectory]:
        made = []
        for n, w in enumerate(won):
            t = trajectory(f"g{n}", w, [0.0, 1.0 if w else 0.0])
            t.trajectory_id, t.policy = f"g{n}", trajectory_pb2.LLM
            t.usage.prompt_tokens, t.usage.completion_tokens = 100, 20
            for step in t.steps:
                step.action, step.admissible, step.raw_output = "look", admissible, "look"
            made.append(t)
        return made

    # Won in the first run only: g0; in the second only: g1..g9.
    data = summarise_runs({"a": run([True] + [False] * 9, True), "b": run([False] + [True] * 9, False)})
    (flip,) = data["flips"]
    assert (len(flip["won_in_a_only"]), len(flip["won_in_b_only"])) == (1, 9)
    assert flip["p_value"] == 0.021484375
    a, b = (record["behaviour"] for record in data["runs"])
    assert (a["steps"], a["not_admissible_rate"], b["not_admissible_rate"]) == (20, 0.0, 1.0)
    assert (a["model_calls_per_step"], a["tokens_per_step"]) == (1.0, 60.0)
    assert (a["longest_streak"], a["repeated"], a["repeat_rate"]) == (2, 0, 0.0)


def test_the_latest_run_skips_a_line_still_being_written(tmp_path: Path) -> None:
    (tmp_path / "trajectories-000001.jsonl").write_text('{"run_id":"old"}\n')
    (tmp_path / "trajectories-000002.jsonl").write_text('{"run_id":"a"}\n{"run_id":"b"}\n{"run_id":"torn')
    assert latest_run_id(tmp_path) == "b"


def test_the_last_whole_line_is_found_across_blocks(tmp_path: Path) -> None:
    segment = tmp_path / "s.jsonl"
    segment.write_bytes(b"x" * 50 + b"\n" + b"y" * 50 + b"\n\n")
    assert last_whole_line(segment, block=7) == b"y" * 50
    segment.write_bytes(b"only a torn line")
    assert last_whole_line(segment, block=4) is None


def test_the_latest_run_of_an_empty_store_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LookupError):
        latest_run_id(tmp_path)


def test_the_embedded_plotly_is_the_pinned_file() -> None:
    source = page.plotly_js()
    assert hashlib.sha256(source.encode()).hexdigest() == page.PLOTLY_SHA256
    assert "plotly.js (cartesian - minified) v4.1.1" in source[:200]


def test_the_page_allows_exactly_its_own_two_scripts_and_no_network() -> None:
    html = page.render("t <b>", {"runs": []}, {"step_fields": [], "episodes": []})
    (escaped,) = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    csp = {part.split()[0]: part.split()[1:] for part in unescape(escaped).split(";")}
    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert len(scripts) == 2
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts
    }
    assert set(csp["script-src"]) == hashes
    assert csp["default-src"] == ["'none'"]
    assert "<title>t &lt;b&gt;</title>" in html


def test_the_settings_say_how_the_repeat_note_was_set() -> None:
    def llm_episode(repeat_note_after: int | None) -> trajectory_pb2.Trajectory:
        return trajectory_pb2.Trajectory(
            policy=trajectory_pb2.LLM,
            settings=trajectory_pb2.AgentSettings(repeat_note_after=repeat_note_after),
        )

    def note_row(*episodes: trajectory_pb2.Trajectory) -> str:
        return dict(run_settings(episodes))["repeat note after"]

    assert note_row(llm_episode(3)) == "3"
    assert note_row(llm_episode(0)) == "off"
    # Older agents wrote "off" as -1.
    assert note_row(llm_episode(-1)) == "off"
    # Stored before the setting was recorded: those episodes had the note from 3 on.
    assert note_row(llm_episode(None)) == "3"
    assert note_row(llm_episode(3), llm_episode(0), llm_episode(-1)) == "off (2 episodes), 3 (1 episodes)"


def test_an_episode_a_resume_played_again_is_listed_but_not_counted() -> None:
    def episode(game_id: str, attempt: int, end: str, won: bool = False) -> trajectory_pb2.Trajectory:
        return trajectory_pb2.Trajectory(
            trajectory_id=f"{game_id}-{attempt}",
            attempt=attempt,
            game=trajectory_pb2.Game(game_id=game_id, task_type="pick_and_place_simple"),
            end_reason=trajectory_pb2.EndReason.Value(end),
            won=won,
        )

    run = [
        episode("a", 0, "CANCELLED"),
        episode("a", 1, "WON", won=True),
        episode("b", 0, "STEP_LIMIT"),
        episode("c", 0, "ENV_ERROR"),  # not played again (yet): it counts
        episode("d", 0, "STEP_LIMIT"),
        episode("d", 1, "WON", won=True),  # a deliberate second attempt: both count
    ]
    data = summarise_runs({"r": run})
    (summary,) = data["runs"]
    overall = summary["success"][-1]
    assert (overall["episodes"], overall["wins"]) == (5, 2)
    assert summary["end_reasons"] == {"WON": 2, "STEP_LIMIT": 2, "ENV_ERROR": 1}
    assert len(data["episodes"]) == 6


def test_the_settings_name_the_skill_library_and_the_seen_games() -> None:
    library_id = "sha256:" + "c" * 64
    with_library = trajectory_pb2.Trajectory(
        policy=trajectory_pb2.LLM,
        settings=trajectory_pb2.AgentSettings(skill_library=library_id, decoding="grammar"),
        seen_game=True,
    )
    without = trajectory_pb2.Trajectory(policy=trajectory_pb2.LLM, settings=trajectory_pb2.AgentSettings())
    rows = dict(run_settings([with_library]))
    assert (rows["skill library"], rows["decoding"]) == (library_id, "grammar")
    assert rows["played on a game the library was made from"] == "yes"
    mixed = dict(run_settings([with_library, without, without]))
    assert mixed["skill library"] == f"none (2 episodes), {library_id} (1 episodes)"


def test_the_viewer_shows_each_steps_skill_call_and_the_entries_it_was_shown() -> None:
    from agent_service.report.viewer import STEP_FIELDS, episode_detail

    shown = ["demonstration:t-1", "procedure:take_move"]
    step_of_a_call = trajectory_pb2.Step(
        index=1, action="take apple 1", grounding="skill", skill="take_move(obj=apple 1)", skills_shown=shown
    )
    trajectory = trajectory_pb2.Trajectory(steps=[step_of_a_call])
    [row] = episode_detail(trajectory)["steps"]
    step = dict(zip(STEP_FIELDS, row, strict=True))
    assert step["skill"] == "take_move(obj=apple 1)" and step["grounding"] == "skill"
    assert step["skills_shown"] == ["demonstration:t-1", "procedure:take_move"]
