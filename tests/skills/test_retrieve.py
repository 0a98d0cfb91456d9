"""Retrieval (agent_service/skills/retrieve.py) from a library of real episodes, for real eval games."""

from __future__ import annotations

from agent_service.skills.extract import extract
from agent_service.skills.library import FactKind, SkillLibrary
from agent_service.skills.retrieve import (
    describe,
    facts_for,
    library_kinds,
    nearest_demonstrations,
    procedures_for,
    room_kinds,
    task_kinds,
)
from tests.skills.games import Games

HEAT = "pick_heat_then_place_in_recep"


def test_task_kinds_are_the_words_the_library_or_room_knows(library: SkillLibrary) -> None:
    known = library_kinds(library)
    assert {"apple", "microwave", "desklamp"} <= known
    assert task_kinds("heat some apple and put it in garbagecan", known) == ("apple", "garbagecan")
    assert task_kinds("put a zorb in quux", known | {"quux"}) == ("quux",)
    kitchen = (
        "You see a cabinet 2, a cabinet 1, a fridge 1, and a microwave 1.\n\nYour task is to: cool a apple."
    )
    assert room_kinds(kitchen) == {"cabinet", "fridge", "microwave"}


def test_nearest_demonstrations_same_type_then_shared_kinds(library: SkillLibrary, games: Games) -> None:
    game = games.reset("generated_eval", HEAT, 0, with_plan=False)
    games.close(game.session_id)
    nearest = nearest_demonstrations(library, HEAT, game.game.task, game.observation.text, k=2)
    assert [d.task_type for d in nearest] == [HEAT, HEAT]
    assert nearest == nearest_demonstrations(library, HEAT, game.game.task, game.observation.text, k=2)
    wanted = set(task_kinds(game.game.task, library_kinds(library) | room_kinds(game.observation.text)))
    same_type = [d for d in library.demonstrations if d.task_type == HEAT]
    best = max(len(wanted & set(d.task_kinds)) for d in same_type)
    assert len(wanted & set(nearest[0].task_kinds)) == best
    # More than the library has of the type: the others follow.
    many = nearest_demonstrations(library, HEAT, game.game.task, game.observation.text, k=len(same_type) + 2)
    assert [d.task_type == HEAT for d in many] == [True] * len(same_type) + [False, False]
    assert nearest_demonstrations(library, HEAT, game.game.task, game.observation.text, k=0) == []


def test_nearest_demonstration_is_the_one_naming_the_same_things(library: SkillLibrary) -> None:
    (apple,) = [d for d in library.demonstrations if d.task_type == HEAT and "apple" in d.task_kinds]
    chosen = nearest_demonstrations(library, HEAT, "heat some apple and put it in garbagecan", "", k=1)
    assert chosen == [apple]


def test_facts_for_a_task_are_its_tools_places_and_what_to_open(library: SkillLibrary, games: Games) -> None:
    game = games.reset("generated_eval", HEAT, 0, with_plan=False)
    games.close(game.session_id)
    room = room_kinds(game.observation.text)
    wanted = set(task_kinds(game.game.task, library_kinds(library) | room))
    facts = facts_for(library, game.game.task, game.observation.text, task_type=HEAT, limit=8)
    assert 0 < len(facts) <= 8
    assert facts == facts_for(library, game.game.task, game.observation.text, task_type=HEAT, limit=8)
    kinds = [f.kind for f in facts]
    assert kinds == sorted(kinds, key=[FactKind.TOOL, FactKind.FOUND_IN, FactKind.CLOSED].index)
    assert any(f.kind == FactKind.TOOL and f.verb == "heat" and f.tool == "microwave" for f in facts)
    for fact in facts:
        if fact.kind == FactKind.FOUND_IN:
            assert fact.object in wanted and fact.receptacle in room
        if fact.kind == FactKind.TOOL:
            assert fact.task_type == HEAT
    found = [f.count for f in facts if f.kind == FactKind.FOUND_IN]
    assert found == sorted(found, reverse=True)


def test_procedures_for_a_task_type_most_supported_first(library: SkillLibrary) -> None:
    for task_type in {t for p in library.procedures for t in p.task_types}:
        chosen = procedures_for(library, task_type)
        assert chosen and all(task_type in p.task_types for p in chosen)
        assert [p.support for p in chosen] == sorted((p.support for p in chosen), reverse=True)
    assert procedures_for(library, "no_such_type") == []


def test_facts_read_as_sentences(library: SkillLibrary) -> None:
    for fact in library.facts:
        sentence = describe(fact)
        named = [kind for kind in (fact.object, fact.receptacle, fact.tool) if kind]
        assert named and all(f"a {kind}" in sentence for kind in named), sentence
        assert f"{fact.count} time" in sentence and f"in {fact.games} game" in sentence
    heat = next(f for f in library.facts if f.kind == FactKind.TOOL and f.verb == "heat")
    assert describe(heat).startswith(f"to heat a {heat.object}, a microwave was used (")


def test_an_empty_library_offers_nothing() -> None:
    empty = extract([])
    assert nearest_demonstrations(empty, HEAT, "heat some apple and put it in garbagecan", "", k=3) == []
    assert facts_for(empty, "heat some apple and put it in garbagecan", task_type=HEAT) == []
    assert procedures_for(empty, HEAT) == []
