"""Playing a procedure: its commands one at a time, control handed back at the first surprise.

    run = Execution(procedure, {"obj": "<kind> 1", "recep": "<kind> 2", ...})
    while not run.finished:
        observation = env.step(run.next_action())      # each one a recorded step of the episode
        verdict = run.observe(observation)
        if verdict is Verdict.HANDED_BACK:
            ...                                        # the model decides again, from here

An answer is as expected when it begins with the step's `expect`, placeholders filled, white space
aside (the first sentence of the answers the procedure was distilled from: what the command did;
the rest, what is there, differs between rooms). No env, no model and no grpc here: the caller
sends the commands, counts them against its step budget and stops on a win.

A call as a model writes it: `<name>(obj=<kind> 1, recep=<kind> 2, ...)`, with the names the game
gave the things; `parse_call` reads one, `signature` writes what to show the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from agent_service.skills.library import Procedure
from alfagent_common.errors import InvalidRequest


class SkillCallError(InvalidRequest):
    """A call names no procedure, or its arguments do not fit the procedure's parameters."""


class Verdict(StrEnum):
    # The answer was as expected; more commands follow.
    CONTINUE = "continue"
    # The answer to the last command was as expected: the procedure is done.
    COMPLETED = "completed"
    # The answer was not what the procedure expects: control goes back to the caller.
    HANDED_BACK = "handed_back"


_CALL = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.S)


def _normalise(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Execution:
    procedure: Procedure
    arguments: Mapping[str, str]
    # Index of the next step to send.
    position: int = 0
    verdict: Verdict = Verdict.CONTINUE
    # The answers received so far, in order.
    observations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.procedure.steps:
            raise SkillCallError(f"{self.procedure.name} has no steps")
        self.arguments = check_arguments(self.procedure, self.arguments)
        self._sent = False

    @property
    def finished(self) -> bool:
        return self.verdict is not Verdict.CONTINUE

    def next_action(self) -> str:
        """The next command to send, placeholders filled."""
        if self.finished:
            raise RuntimeError(f"{self.procedure.name} has finished ({self.verdict.value})")
        if self._sent:
            raise RuntimeError("observe() the answer to the last command first")
        self._sent = True
        return self.procedure.steps[self.position].action.format_map(self.arguments)

    def expected(self) -> str:
        """How the answer to the command sent last must begin ("" when anything goes)."""
        return self.procedure.steps[self.position].expect.format_map(self.arguments)

    def observe(self, observation: str) -> Verdict:
        """Judge the answer to the command sent last, and say what happens next."""
        if not self._sent:
            raise RuntimeError("next_action() first")
        self._sent = False
        self.observations.append(observation)
        if not _normalise(observation).startswith(_normalise(self.expected())):
            self.verdict = Verdict.HANDED_BACK
            return self.verdict
        self.position += 1
        if self.position == len(self.procedure.steps):
            self.verdict = Verdict.COMPLETED
        return self.verdict


def check_arguments(procedure: Procedure, arguments: Mapping[str, str]) -> dict[str, str]:
    """The arguments, each parameter given once and nothing else; SkillCallError otherwise."""
    names = procedure.parameter_names
    missing = [name for name in names if not arguments.get(name, "").strip()]
    unknown = sorted(set(arguments) - set(names))
    if missing or unknown:
        problems = [
            f"missing {', '.join(missing)}" if missing else "",
            f"unknown {', '.join(unknown)}" if unknown else "",
        ]
        raise SkillCallError(
            f"{procedure.name} takes {signature(procedure)}: {'; '.join(p for p in problems if p)}"
        )
    bad = [name for name in names if "\n" in arguments[name] or "{" in arguments[name]]
    if bad:
        raise SkillCallError(f"{procedure.name}: argument {bad[0]} must be one line without braces")
    return {name: _normalise(arguments[name]) for name in names}


def signature(procedure: Procedure) -> str:
    """ "take_heat_move(obj, recep, tool, target)"."""
    return f"{procedure.name}({', '.join(procedure.parameter_names)})"


def parse_call(text: str, procedures: Iterable[Procedure]) -> tuple[Procedure, dict[str, str]]:
    """`name(param=value, ...)` (values as the game names things, e.g. `obj=<kind> 1`); the
    procedure and its checked arguments. SkillCallError for anything else."""
    match = _CALL.match(text)
    if match is None:
        raise SkillCallError(f"{text[:80]!r} is not a call such as name(param=value, ...)")
    name, body = match.groups()
    procedure = next((p for p in procedures if p.name == name), None)
    if procedure is None:
        raise SkillCallError(f"no procedure named {name!r}")
    arguments: dict[str, str] = {}
    parts = [piece.strip() for piece in body.split(",") if piece.strip()]
    if parts and not any("=" in part for part in parts):
        # Positional, as a model that writes code calls functions: the parameters in order.
        if len(parts) != len(procedure.parameters):
            raise SkillCallError(f"{name} takes {signature(procedure)}: {len(parts)} arguments given")
        parts = [f"{p}={value}" for p, value in zip(procedure.parameter_names, parts, strict=True)]
    for part in parts:
        key, equals, value = part.partition("=")
        if not equals or not key.strip():
            raise SkillCallError(f"{part!r} in a call to {name} is not param=value")
        if key.strip() in arguments:
            raise SkillCallError(f"{key.strip()} is given twice in a call to {name}")
        arguments[key.strip()] = value.strip().strip("\"'")
    return procedure, check_arguments(procedure, arguments)


def ground_arguments(arguments: Mapping[str, str], named: Iterable[str]) -> dict[str, str]:
    """Arguments written as a kind without its number ("<kind>") become the thing of that kind the
    game named, the most recently named first (`named`, e.g. "<kind> 1"); the others stay as
    written. Nothing is made up: a kind the game never named stays as it is, and its command fails
    in the game like any other."""
    by_kind: dict[str, str] = {}
    for name in named:
        by_kind.setdefault(name.rsplit(" ", 1)[0], name)
    return {key: by_kind.get(value, value) for key, value in arguments.items()}
