import json
from dataclasses import asdict

import pytest
from google.protobuf import json_format

from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import ids, run_stats
from alfagent_common.errors import InvalidRequest
from store_service import records
from store_service.index import ANY, Index, Location
from tests.store.store_harness import sample_trajectory


def test_line_is_one_compact_json_object_with_proto_field_names() -> None:
    trajectory = sample_trajectory("run-1:game-7:0", steps=2)
    trajectory.steps[0].observation = "line one\nline two \u2028 é"
    line, meta = records.encode(trajectory, 1 << 20)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    document = json.loads(line)
    assert document["trajectory_id"] == "run-1:game-7:0"
    assert document["run_id"] == "run-1"
    assert document["game"]["task_type"] == "pick_and_place_simple"
    assert document["policy"] == "LLM" and document["end_reason"] == "WON"
    assert document["started_at"] == "2026-09-21T14:13:20Z"
    assert "é" in line.decode()  # UTF-8, not \u escapes
    # What json_format would give, and compact: nothing between tokens.
    assert document == json.loads(json_format.MessageToJson(trajectory, preserving_proto_field_name=True))
    assert line.decode() == json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert meta == records.RecordMeta(
        trajectory_id="run-1:game-7:0",
        run_id="run-1",
        task_type="pick_and_place_simple",
        won=True,
        steps=2,
        goal_progress=1.0,
        prompt_tokens=2000,
        completion_tokens=40,
        game_id="valid_unseen/pick_and_place_simple-Pencil-None-Shelf-308/trial_T20190908_1",
        attempt=0,
        end_reason="WON",
    )


def test_decode_inverts_encode() -> None:
    trajectory = sample_trajectory("a.b_c-d:1", steps=3)
    trajectory.retry_causes["timeout"] = 2
    line, _ = records.encode(trajectory, 1 << 20)
    assert records.decode(line.rstrip(b"\n")) == trajectory
    assert records.meta_from_line(line.rstrip(b"\n")) == records.encode(trajectory, 1 << 20)[1]


@pytest.mark.parametrize("goal_progress", [0.0, 1 / 3, 0.1, 1.0, float("nan"), float("inf")])
def test_metadata_from_the_proto_is_what_the_stored_line_gives(goal_progress: float) -> None:
    # Appends index `meta_of(trajectory)`; start-up indexes `meta_from_line` of what was stored.
    trajectory = sample_trajectory("t", steps=4, won=False)
    trajectory.goal_progress = goal_progress
    line = records.encode_line(trajectory, 1 << 20)
    assert records.meta_of(trajectory) == records.meta_from_line(line.rstrip(b"\n"))


def test_decode_skips_fields_a_newer_writer_added() -> None:
    line, _ = records.encode(sample_trajectory("x"), 1 << 20)
    document = json.loads(line)
    document["field_from_the_future"] = {"a": 1}
    assert records.decode(json.dumps(document).encode()).trajectory_id == "x"


@pytest.mark.parametrize(
    ("trajectory_id", "message"),
    [
        ("", "is required"),
        ("a" * 201, "201 characters"),
        ("../etc/passwd", "'/'"),
        ("runs\\x", "'\\\\\\\\'"),
        ("a\nb", "'\\\\n'"),
        ("a\x00b", "'\\\\x00'"),
        ("with space", "' '"),
        ("ünïcode", "'ü'"),
    ],
)
def test_bad_trajectory_ids_are_rejected_with_a_clear_message(trajectory_id: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        records.encode(sample_trajectory(trajectory_id), 1 << 20)


def test_the_longest_allowed_id_and_every_allowed_character() -> None:
    assert ids.check_id("A" * 200, "id") == "A" * 200
    assert ids.check_id("az.AZ_09:-", "id") == "az.AZ_09:-"


def test_bad_run_id_is_rejected_but_an_empty_one_is_allowed() -> None:
    with pytest.raises(InvalidRequest, match="run_id"):
        records.encode(sample_trajectory("ok", run_id="a/b"), 1 << 20)
    assert records.encode(sample_trajectory("ok", run_id=""), 1 << 20)[1].run_id == ""


def test_size_limit_applies_to_the_stored_line() -> None:
    trajectory = sample_trajectory("big", steps=1, observation="x" * 5000)
    size = len(records.encode(trajectory, 1 << 20)[0])
    assert records.encode(trajectory, size)[0]
    with pytest.raises(InvalidRequest, match=f"{size} bytes as JSON; the limit is {size - 1}"):
        records.encode(trajectory, size - 1)


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"{",
        b"[1, 2]",
        b'"text"',
        b"\xff\xfe",
        b'{"run_id": "r"}',
        b'{"trajectory_id": "a/b"}',
        b'{"trajectory_id": "a", "won": "yes"}',
        b'{"trajectory_id": "a", "steps": {}}',
        b'{"trajectory_id": "a", "usage": {"prompt_tokens": "many"}}',
        b'{"trajectory_id": "a", "game": []}',
        b'{"trajectory_id": 5}',
        b'{"trajectory_id": "a", "run_id": ["r"]}',
        b'{"trajectory_id": "a", "game": {"task_type": 3}}',
        b'{"trajectory_id": "a", "game": {"game_id": 3}}',
        b'{"trajectory_id": "a", "attempt": "1"}',
        b'{"trajectory_id": "a", "attempt": true}',
        b'{"trajectory_id": "a", "end_reason": ["WON"]}',
    ],
)
def test_lines_that_are_not_records(line: bytes) -> None:
    with pytest.raises(records.BadLine):
        records.meta_from_line(line)


def test_stats_to_proto_rates_and_overall() -> None:
    pick = run_stats.Tally(episodes=4, wins=3, steps=40, goal_progress=3.5, prompt_tokens=10)
    clean = run_stats.Tally(episodes=1, wins=0, steps=50, prompt_tokens=5, completion_tokens=2)
    stats = records.stats_to_proto("run-1", records.RunStats({"pick": pick, "clean": clean}, 6))
    assert [row.task_type for row in stats.by_task_type] == ["clean", "pick"]
    assert stats.by_task_type[1].success_rate == 0.75 and stats.by_task_type[1].mean_steps == 10
    assert 0 < stats.by_task_type[1].success_ci_low < 0.75 < stats.by_task_type[1].success_ci_high < 1
    assert stats.overall.task_type == "all" and stats.overall.episodes == 5 and stats.overall.wins == 3
    assert stats.overall.mean_steps == 18 and stats.overall.prompt_tokens == 15
    assert stats.trajectories == 6 and stats.run_id == "run-1"
    empty = records.stats_to_proto("none", records.RunStats({}, 0))
    assert empty.overall.episodes == 0 and empty.overall.success_ci_high == 1.0 and not empty.by_task_type


def attempt(game: str, number: int, end: str, run_id: str = "run-1") -> trajectory_pb2.Trajectory:
    trajectory = sample_trajectory(f"{run_id}:{game}:{number}", run_id=run_id, won=end == "WON", steps=2)
    trajectory.game.game_id = game
    trajectory.attempt = number
    trajectory.end_reason = trajectory_pb2.EndReason.Value(end)
    return trajectory


def index_of(trajectories: list[trajectory_pb2.Trajectory], from_lines: bool) -> Index:
    index = Index()
    for number, trajectory in enumerate(trajectories):
        line = records.encode_line(trajectory, 1 << 20).rstrip(b"\n")
        meta = records.meta_from_line(line) if from_lines else records.meta_of(trajectory)
        index.add(meta, Location(0, number, len(line)))
    return index


@pytest.mark.parametrize("from_lines", [False, True], ids=["appended", "recovered"])
@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 4, 0, 3, 2]])
def test_stats_count_a_resumed_game_once_as_the_evaluation_summary_does(
    order: list[int], from_lines: bool
) -> None:
    """A resume played game `a` again after it was cancelled, and `b` twice after endpoint and env
    failures; `c` lost for good. GetStats counts 3 episodes (2 wins) of the 6 stored, whatever the
    order in which they reach the index (appends, or start-up reading the segments)."""
    run = [
        attempt("a", 0, "CANCELLED"),
        attempt("a", 1, "WON"),
        attempt("b", 0, "LLM_ERROR"),
        attempt("b", 1, "ENV_ERROR"),
        attempt("b", 2, "WON"),
    ]
    run.append(attempt("c", 0, "STEP_LIMIT"))
    # Another run's attempt of game `a` replaces nothing here.
    run.append(attempt("a", 5, "WON", run_id="run-2"))
    index = index_of([run[i] for i in order] + run[5:], from_lines)
    stats = records.stats_to_proto("run-1", index.stats("run-1"))
    assert (stats.overall.episodes, stats.overall.wins, stats.trajectories) == (3, 2, 6)
    assert stats.overall.mean_steps == 2 and stats.overall.prompt_tokens == 3 * 2000
    every_run = records.stats_to_proto("", index.stats(ANY))
    assert (every_run.overall.episodes, every_run.overall.wins, every_run.trajectories) == (4, 3, 7)
    # The same rows as the statistics core gives for the run's trajectories.
    rows, overall = run_stats.success_by_task_type(
        run_stats.counted([run_stats.episode_of(t) for t in run if t.run_id == "run-1"])
    )
    assert stats.overall == trajectory_pb2.TaskTypeStats(**asdict(overall))
    assert list(stats.by_task_type) == [trajectory_pb2.TaskTypeStats(**asdict(row)) for row in rows]
