"""Extraction (agent_service/skills/extract.py) on episodes of real games and on small made-up ones."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from agent_service.skills import grammar
from agent_service.skills.convert import from_proto, source_from_proto, to_proto
from agent_service.skills.extract import EXTRACTOR_VERSION, KINDS, extract
from agent_service.skills.library import FactKind, SkillLibrary, SourceStep, SourceTrajectory
from alfagent_common import skill_library
from alfagent_common.errors import InvalidRequest
from tests.skills.conftest import EXPERT_RUN, SEARCH_RUN, Recorded


def made_up(
    trajectory_id: str, steps: list[tuple[str, str]], *, won: bool, game: str = "g/zorb-1"
) -> SourceTrajectory:
    """A tiny episode in the game's sentence shapes, with kinds no real game has."""
    last = len(steps) - 1
    return SourceTrajectory(
        trajectory_id=trajectory_id,
        game_id=game,
        task_type="put_zorb",
        task="put a zorb in quux",
        initial_observation="You are in the middle of a room. Looking quickly around you, you see a blat 1, "
        "and a quux 1.\n\nYour task is to: put a zorb in quux.",
        won=won,
        steps=tuple(
            SourceStep(
                action,
                observation,
                won=won and index == last,
                goal_progress=1.0 if won and index == last else 0,
            )
            for index, (action, observation) in enumerate(steps)
        ),
        run_id="run-z",
        policy="LLM",
    )


ZORB_WIN = [
    ("go to blat 1", "You arrive at blat 1. On the blat 1, you see a zorb 2, and a frob 1."),
    ("take zorb 2 from blat 1", "You pick up the zorb 2 from the blat 1."),
    ("go to quux 1", "You arrive at quux 1. The quux 1 is closed."),
    ("open quux 1", "You open the quux 1. The quux 1 is open. In it, you see nothing."),
    ("move zorb 2 to quux 1", "You move the zorb 2 to the quux 1."),
]


def test_zero_trajectories_give_an_empty_library() -> None:
    library = extract([])
    assert (library.demonstrations, library.facts, library.procedures) == ((), (), ())
    assert (library.source_run_ids, library.source_game_ids, library.source_trajectory_ids) == ((), (), ())
    assert library.extractor_version == EXTRACTOR_VERSION
    assert library.library_id == skill_library.content_id(to_proto(library))
    assert library.library_id.startswith("sha256:") and len(library.library_id) == 71
    assert extract([]).library_id == library.library_id


def test_the_same_trajectories_in_any_order_give_the_same_library(
    recorded: Recorded, library: SkillLibrary
) -> None:
    shuffled = [source_from_proto(t) for t in recorded.all]
    random.Random(7).shuffle(shuffled)
    again = extract(shuffled + shuffled[:3], created_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert again.library_id == library.library_id
    assert replace(again, created_at=None) == library
    # What the store checks: the id is the hash of the content, as the agent computed it.
    assert skill_library.check(to_proto(again)) == again.library_id
    assert from_proto(to_proto(again)) == again


def test_lineage_names_every_run_game_and_trajectory(recorded: Recorded, library: SkillLibrary) -> None:
    assert library.source_run_ids == (EXPERT_RUN, SEARCH_RUN)
    assert set(library.source_game_ids) == {t.game.game_id for t in recorded.all}
    assert library.source_trajectory_ids == tuple(sorted(t.trajectory_id for t in recorded.all))
    assert {t.game.game_id for t in recorded.lost} <= set(library.source_game_ids)


def test_every_win_is_a_demonstration_and_searches_count(recorded: Recorded, library: SkillLibrary) -> None:
    by_id = {d.trajectory_id: d for d in library.demonstrations}
    assert set(by_id) == {t.trajectory_id for t in recorded.expert + recorded.searched}
    for trajectory in recorded.expert:
        demonstration = by_id[trajectory.trajectory_id]
        assert demonstration.places_searched == 0 and demonstration.policy == "EXPERT"
        assert [s.action for s in demonstration.steps] == [s.action for s in trajectory.steps]
        assert demonstration.initial_observation == trajectory.initial_observation
    for trajectory in recorded.searched:
        demonstration = by_id[trajectory.trajectory_id]
        assert demonstration.policy == "LLM" and demonstration.places_searched >= 1
    for demonstration in library.demonstrations:
        taken = next(
            grammar.read(s.observation).picked
            for s in demonstration.steps
            if grammar.read(s.observation).picked
        )
        assert taken is not None and grammar.kind_of(taken[0]) in demonstration.task_kinds
        assert set(demonstration.task_kinds) <= set(grammar.words(demonstration.task))


def test_facts_say_where_things_were_what_was_closed_and_the_tools(
    recorded: Recorded, library: SkillLibrary
) -> None:
    facts = {(f.kind, f.object, f.receptacle, f.verb, f.tool, f.task_type): f for f in library.facts}
    for trajectory in recorded.expert:
        for step in trajectory.steps:
            seen = grammar.read(step.observation)
            if seen.picked:
                thing, place = (grammar.kind_of(name) for name in seen.picked)
                assert (FactKind.FOUND_IN, thing, place, "", "", "") in facts
            for place in seen.closed:
                assert (FactKind.CLOSED, "", grammar.kind_of(place), "", "", "") in facts
            if seen.treated:
                verb, thing, tool = seen.treated
                key = (
                    FactKind.TOOL,
                    grammar.kind_of(thing),
                    "",
                    verb,
                    grammar.kind_of(tool),
                    trajectory.game.task_type,
                )
                assert key in facts
    assert all(f.count >= f.games >= 1 for f in library.facts)
    assert not any(any(char.isdigit() for char in f.object + f.receptacle + f.tool) for f in library.facts)


def test_a_lost_episode_gives_facts_and_nothing_else(recorded: Recorded) -> None:
    library = extract(source_from_proto(t) for t in recorded.lost)
    assert library.demonstrations == () and library.procedures == ()
    assert {f.kind for f in library.facts} >= {FactKind.LOOKED_IN, FactKind.CLOSED}
    assert library.source_game_ids == (recorded.lost[0].game.game_id,)


def test_procedures_are_parameterised_and_checked(library: SkillLibrary) -> None:
    assert skill_library.problems(to_proto(library)) == []
    task_types = {t for p in library.procedures for t in p.task_types}
    assert len(task_types) == 6
    for procedure in library.procedures:
        assert procedure.steps[0].action == "take {obj} from {recep}"
        assert procedure.steps[0].expect == "You pick up the {obj} from the {recep}."
        assert procedure.support >= len(procedure.source_trajectory_ids) >= 1
        assert not any(grammar.INSTANCE.search(step.action) for step in procedure.steps)
    heating = [p for p in library.procedures if "pick_heat_then_place_in_recep" in p.task_types]
    assert any(
        s.action == "heat {obj} with {tool}" and s.expect == "You heat the {obj} using the {tool}."
        for p in heating
        for s in p.steps
    )
    # Both objects of a pick_two game are stretches of one procedure.
    (two,) = {p.name: p for p in library.procedures if "pick_two_obj_and_place" in p.task_types}.values()
    assert two.support >= 4


def test_kinds_come_from_the_episodes_not_from_a_list() -> None:
    lost = made_up("t-z2", [("go to quux 1", "You arrive at quux 1. The quux 1 is closed.")], won=False)
    library = extract([made_up("t-z1", ZORB_WIN, won=True), lost])
    facts = {(f.kind, f.object, f.receptacle): (f.count, f.games) for f in library.facts}
    assert facts[(FactKind.FOUND_IN, "zorb", "blat")] == (1, 1)
    assert facts[(FactKind.FOUND_IN, "frob", "blat")] == (1, 1)
    assert facts[(FactKind.CLOSED, "", "quux")] == (1, 1)  # once per game, whoever saw it
    (procedure,) = library.procedures
    assert procedure.name == "take_open_move"
    assert [(s.action, s.expect) for s in procedure.steps] == [
        ("take {obj} from {recep}", "You pick up the {obj} from the {recep}."),
        ("go to {target}", "You arrive at {target}."),
        ("open {target}", "You open the {target}."),
        ("move {obj} to {target}", "You move the {obj} to the {target}."),
    ]
    (demonstration,) = library.demonstrations
    assert demonstration.task_kinds == ("quux", "zorb")


def test_a_thing_the_player_moved_is_not_found_where_it_was_put() -> None:
    steps = [
        *ZORB_WIN[:2],
        ("move zorb 2 to blat 1", "You move the zorb 2 to the blat 1."),
        ("go to quux 1", "You arrive at quux 1. On the quux 1, you see a zorb 2."),
        ("look", "Nothing happens."),
    ]
    library = extract([made_up("t-z3", steps, won=False)])
    assert [(f.object, f.receptacle) for f in library.facts if f.kind == FactKind.FOUND_IN] == [
        ("frob", "blat"),
        ("zorb", "blat"),
    ]


def test_commands_that_changed_nothing_are_left_out_of_procedures() -> None:
    steps = [
        *ZORB_WIN[:2],
        ("examine zorb 2", "This is a normal zorb 2."),
        ("go to blat 1", "Nothing happens."),
        ("go to frob 1", "You arrive at frob 1. On the frob 1, you see nothing."),
        *ZORB_WIN[2:],
    ]
    (procedure,) = extract([made_up("t-z4", steps, won=True)]).procedures
    assert [s.action for s in procedure.steps] == [
        "take {obj} from {recep}",
        "go to {target}",
        "open {target}",
        "move {obj} to {target}",
    ]


def test_a_library_of_one_kind_holds_only_that_kind_and_the_same_lineage(recorded: Recorded) -> None:
    sources = [source_from_proto(t) for t in recorded.all]
    whole = extract(sources)
    for kind in KINDS:
        alone = extract(sources, kinds=[kind])
        assert len(getattr(alone, kind)) == len(getattr(whole, kind)) > 0
        assert all(not getattr(alone, other) for other in KINDS if other != kind)
        assert alone.source_game_ids == whole.source_game_ids and alone.library_id != whole.library_id
    with pytest.raises(InvalidRequest, match="unknown kinds of entries: tricks"):
        extract(sources, kinds=["tricks"])
