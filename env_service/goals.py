"""Partial credit: the fraction of a game's goal conditions that hold in the current state.

The goal comes from the PDDL problem itself, so the measure does not depend on the wording of
observations. Predicates no action ever changes (objectType, receptacleAtLocation, canContain,
...) only say *which* objects the goal is about: they are hard constraints on the existential
variables, not progress. Every other literal of the goal counts one. Progress is the best, over
all bindings of the goal's variables that satisfy the hard constraints, of the fraction of
counted literals that hold.

Example: "put a hot apple in the fridge" counts (isHot ?o) and (inReceptacle ?o ?r), while
(objectType ?o AppleType), (receptacleType ?r FridgeType) and (heatable ?o) only pick ?o and ?r;
holding an apple heated in the microwave scores 1/2 until it is placed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from env_service.downward import lisp_parser, parsing_functions, pddl

Fact = tuple[str, tuple[str, ...]]
Binding = dict[str, str]


@dataclass(frozen=True)
class _Score:
    held: int
    counted: int

    def __add__(self, other: _Score) -> _Score:
        return _Score(self.held + other.held, self.counted + other.counted)


_IMPOSSIBLE = None


class GoalProgress:
    def __init__(self, goal: Any, static_predicates: set[str], objects_by_type: dict[str, list[str]]) -> None:
        self._goal = goal
        self._static = static_predicates
        self._objects_by_type = objects_by_type

    @classmethod
    def from_pddl(cls, domain: str, problem: str) -> GoalProgress:
        # Parse without normalising: Fast Downward's normaliser rewrites complex goals into axioms.
        task = parsing_functions.parse_task(
            lisp_parser.parse_nested_list(domain.split("\n")),
            lisp_parser.parse_nested_list(problem.split("\n")),
        )
        changed = {effect.literal.predicate for action in task.actions for effect in action.effects}
        static = {predicate.name for predicate in task.predicates} - changed
        objects_by_type: dict[str, list[str]] = defaultdict(list)
        for obj in task.objects:
            objects_by_type[obj.type_name].append(obj.name)
        return cls(task.goal, static, dict(objects_by_type))

    @classmethod
    def from_pddl_state(cls, pddl_state: Any) -> GoalProgress:
        return cls.from_pddl(pddl_state._logic.domain, pddl_state.pddl_problem)

    def measure(self, pddl_state: Any) -> float:
        return self.measure_facts(
            (fact.name, tuple(var.name for var in fact.arguments)) for fact in pddl_state.facts
        )

    def measure_facts(self, facts: Iterable[Fact]) -> float:
        score = self._score(self._goal, {}, set(facts))
        if score is _IMPOSSIBLE or score.counted == 0:
            return 0.0
        return score.held / score.counted

    def _score(self, condition: Any, binding: Binding, facts: set[Fact]) -> _Score | None:
        if isinstance(condition, pddl.Conjunction):
            total = _Score(0, 0)
            for part in condition.parts:
                score = self._score(part, binding, facts)
                if score is _IMPOSSIBLE:
                    return _IMPOSSIBLE
                total = total + score
            return total
        if isinstance(condition, pddl.ExistentialCondition):
            return self._best_binding(condition, list(condition.parameters), binding, facts)
        if isinstance(condition, pddl.Literal):
            return self._literal(condition, binding, facts)
        if isinstance(condition, pddl.Truth):
            return _Score(0, 0)
        raise ValueError(f"goal condition {condition!r} is not supported by goal_progress")

    def _best_binding(
        self, condition: Any, unbound: list[Any], binding: Binding, facts: set[Fact]
    ) -> _Score | None:
        if not unbound:
            return self._score(condition.parts[0], binding, facts)
        parameter, rest = unbound[0], unbound[1:]
        best: _Score | None = _IMPOSSIBLE
        for candidate in self._objects_by_type.get(parameter.type_name, []):
            extended = {**binding, parameter.name: candidate}
            if not self._static_constraints_hold(condition.parts[0], extended, facts):
                continue
            score = self._best_binding(condition, rest, extended, facts)
            if score is not _IMPOSSIBLE and (best is _IMPOSSIBLE or score.held > best.held):
                best = score
        return best

    def _static_constraints_hold(self, condition: Any, binding: Binding, facts: set[Fact]) -> bool:
        """Prunes a partial binding early: every fully bound hard constraint must hold."""
        for literal in _literals(condition):
            if literal.predicate != "=" and literal.predicate not in self._static:
                continue
            if not all(arg in binding or not arg.startswith("?") for arg in literal.args):
                continue
            if self._literal(literal, binding, facts) is _IMPOSSIBLE:
                return False
        return True

    def _literal(self, literal: Any, binding: Binding, facts: set[Fact]) -> _Score | None:
        args = tuple(binding.get(arg, arg) for arg in literal.args)
        holds = args[0] == args[1] if literal.predicate == "=" else (literal.predicate, args) in facts
        if literal.negated:
            holds = not holds
        if literal.predicate == "=" or literal.predicate in self._static:
            return _Score(0, 0) if holds else _IMPOSSIBLE
        return _Score(int(holds), 1)


def _literals(condition: Any) -> Iterable[Any]:
    """Literals of a condition, not descending into nested quantifiers (they bind their own)."""
    if isinstance(condition, pddl.Literal):
        yield condition
    elif isinstance(condition, pddl.Conjunction):
        for part in condition.parts:
            yield from _literals(part)
