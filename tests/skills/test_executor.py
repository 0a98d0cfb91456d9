"""The executor (agent_service/skills/executor.py): on its own, and playing real eval games through the
env core with procedures distilled from train games."""

from __future__ import annotations

import re

import pytest

from agent_service.skills import grammar
from agent_service.skills.executor import (
    Execution,
    SkillCallError,
    Verdict,
    ground_arguments,
    parse_call,
    signature,
)
from agent_service.skills.library import FactKind, Parameter, Procedure, ProcedureStep, SkillLibrary
from agent_service.skills.retrieve import procedures_for
from tests.skills.games import Games

EVAL = "generated_eval"
TAKE_MOVE = Procedure(
    name="take_move",
    task_types=("pick_and_place_simple",),
    parameters=(Parameter("obj"), Parameter("recep"), Parameter("target")),
    steps=(
        ProcedureStep("take {obj} from {recep}", "You pick up the {obj} from the {recep}."),
        ProcedureStep("go to {target}", "You arrive at {target}."),
        ProcedureStep("move {obj} to {target}", "You move the {obj} to the {target}."),
    ),
)
ARGUMENTS = {"obj": "apple 1", "recep": "countertop 1", "target": "fridge 1"}


def test_steps_go_out_one_by_one_and_a_surprise_hands_back() -> None:
    run = Execution(TAKE_MOVE, ARGUMENTS)
    assert run.next_action() == "take apple 1 from countertop 1"
    assert run.observe("You pick up the apple 1 from the countertop 1.") is Verdict.CONTINUE
    assert run.next_action() == "go to fridge 1"
    # What the room holds is not part of the expectation; white space does not matter.
    assert run.observe("You arrive at  fridge 1. The fridge 1 is closed.") is Verdict.CONTINUE
    assert run.next_action() == "move apple 1 to fridge 1"
    assert run.observe("Nothing happens.") is Verdict.HANDED_BACK
    assert run.finished and run.position == 2 and run.expected() == "You move the apple 1 to the fridge 1."
    with pytest.raises(RuntimeError):
        run.next_action()


def test_a_procedure_completes_when_every_answer_is_as_expected() -> None:
    run = Execution(TAKE_MOVE, ARGUMENTS)
    for answer in (
        "You pick up the apple 1 from the countertop 1.",
        "You arrive at fridge 1. The fridge 1 is open. In it, you see nothing.",
        "You move the apple 1 to the fridge 1.",
    ):
        run.next_action()
        verdict = run.observe(answer)
    assert verdict is Verdict.COMPLETED and run.finished and len(run.observations) == 3


def test_calls_are_parsed_and_checked() -> None:
    procedure, arguments = parse_call(
        "take_move(obj=apple 1, recep='countertop 1', target=fridge 1)", [TAKE_MOVE]
    )
    assert procedure is TAKE_MOVE and arguments == ARGUMENTS
    assert signature(TAKE_MOVE) == "take_move(obj, recep, target)"
    for bad, says in [
        ("take_move(obj=apple 1)", "missing recep, target"),
        ("take_move(obj=apple 1, recep=a 1, target=b 1, tool=c 1)", "unknown tool"),
        ("heat_move(obj=apple 1)", "no procedure named 'heat_move'"),
        ("go to fridge 1", "not a call"),
        ("take_move(obj=apple 1, obj=pear 1, recep=a 1, target=b 1)", "given twice"),
    ]:
        with pytest.raises(SkillCallError, match=says):
            parse_call(bad, [TAKE_MOVE])
    with pytest.raises(SkillCallError, match="one line without braces"):
        Execution(TAKE_MOVE, {**ARGUMENTS, "obj": "{recep}"})
    with pytest.raises(SkillCallError, match="has no steps"):
        Execution(Procedure("empty", (), (), ()), {})


def plan_from_take(games: Games, task_type: str, index: int) -> tuple[str, str, list[str]]:
    """A session on an eval game played by its expert plan up to the pick-up; the session id,
    the opening text and the plan's remaining commands."""
    session = games.reset(EVAL, task_type, index)
    plan = [" ".join(action.split()) for action in session.observation.expert_plan]
    while not plan[0].startswith("take "):
        games.step(session.session_id, plan.pop(0))
    return session.session_id, session.observation.text, plan


def bind(procedure: Procedure, plan: list[str]) -> dict[str, str] | None:
    """The arguments under which `procedure` sends exactly the plan's commands, if any."""
    if len(plan) != len(procedure.steps):
        return None
    arguments: dict[str, str] = {}
    for step, action in zip(procedure.steps, plan, strict=True):
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[a-z]+ \\d+)", re.escape(step.action))
        match = re.fullmatch(pattern, action)
        if match is None:
            return None
        for name, value in match.groupdict().items():
            if arguments.setdefault(name, value) != value:
                return None
    return arguments


def play(games: Games, session_id: str, run: Execution) -> bool:
    """Send the procedure's commands until it finishes; whether the game was won."""
    won = False
    while not run.finished:
        result = games.step(session_id, run.next_action())
        run.observe(result.observation.text)
        won = result.observation.won
    return won


def test_a_distilled_procedure_wins_an_eval_game(library: SkillLibrary, games: Games) -> None:
    task_type = "pick_heat_then_place_in_recep"
    for index in range(10):
        session_id, _, plan = plan_from_take(games, task_type, index)
        chosen = [(p, bind(p, plan)) for p in procedures_for(library, task_type)]
        matching = [(p, arguments) for p, arguments in chosen if arguments is not None]
        if matching:
            break
        games.close(session_id)
    else:
        pytest.fail("no eval game of the first ten is played by a procedure of the library")
    procedure, arguments = matching[0]
    run = Execution(procedure, arguments)
    won = play(games, session_id, run)
    games.close(session_id)
    assert run.verdict is Verdict.COMPLETED and run.position == len(procedure.steps)
    assert won, run.observations


def test_a_procedure_that_meets_a_closed_receptacle_hands_back_midway(
    library: SkillLibrary, games: Games
) -> None:
    closed_kinds = {f.receptacle for f in library.facts if f.kind == FactKind.CLOSED}
    (take_move,) = [p for p in procedures_for(library, "pick_and_place_simple") if p.name == "take_move"]
    for index in range(10):
        session_id, opening, plan = plan_from_take(games, "pick_and_place_simple", index)
        taken, source = grammar.instances(plan[0])
        closed = [n for n in grammar.instances(opening) if grammar.kind_of(n) in closed_kinds and n != source]
        if closed:
            break
        games.close(session_id)
    else:
        pytest.fail("no eval game of the first ten has a receptacle of a kind the library saw closed")
    target = closed[0]
    run = Execution(take_move, {"obj": taken, "recep": source, "target": target})
    won = play(games, session_id, run)
    games.close(session_id)
    assert not won
    assert run.verdict is Verdict.HANDED_BACK and run.position == 2, run.observations
    assert run.observations[1].startswith(f"You arrive at {target}. The {target} is closed.")
    assert run.observations[2] == "Nothing happens."


def test_a_call_may_give_its_arguments_in_order_and_name_kinds_the_game_named() -> None:
    procedure = Procedure(
        name="take_move",
        task_types=("pick_and_place_simple",),
        parameters=(Parameter("obj"), Parameter("recep"), Parameter("target")),
        steps=(ProcedureStep("take {obj} from {recep}", "You pick up the {obj}"),),
    )
    chosen, arguments = parse_call("take_move(bowl 1, shelf 14, coffeetable)", [procedure])
    assert chosen is procedure and arguments == {
        "obj": "bowl 1",
        "recep": "shelf 14",
        "target": "coffeetable",
    }
    with pytest.raises(SkillCallError, match="2 arguments given"):
        parse_call("take_move(bowl 1, shelf 14)", [procedure])
    # The kind the game named most recently stands for the thing; a kind it never named stays.
    named = ["coffeetable 2", "shelf 14", "coffeetable 1"]
    assert ground_arguments(arguments, named) == {
        "obj": "bowl 1",
        "recep": "shelf 14",
        "target": "coffeetable 2",
    }
    assert ground_arguments({"obj": "vase"}, named) == {"obj": "vase"}
