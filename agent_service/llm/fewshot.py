"""Few-shot examples: our own expert play of `generated_train` games, with short template thoughts.

For a task type, the first games of that type in the training split are played with the expert
plan through the same `EnvGateway` the episodes use, until `per_type` of them are won. Short
thoughts written here ("think: ...", answered "OK.") are inserted at the points where a person
would say what comes next. The examples are built once per task type per process; episodes
asking at the same time share one build.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from agent_service.episode import EpisodeRequest, PolicyKind
from agent_service.policies import NoExpertPlan
from agent_service.runner import EnvGateway
from agent_service.settings import EpisodeSettings
from alfagent_common import errors

log = logging.getLogger(__name__)

THINK_REPLY = "OK."

_TAKE = re.compile(r"^take (?P<obj>.+?) \d+ from (?P<recep>.+)$")
_PLACE = re.compile(r"^(?:move .+? \d+ to|put .+? \d+ (?:in|on|in/on)) (?P<recep>.+?) \d+$")
_CHANGE = re.compile(r"^(?P<verb>clean|heat|cool) (?P<obj>.+?) \d+ with (?P<tool>.+?) \d+$")
_USE = re.compile(r"^use (?P<lamp>.+?) \d+$")
_GO = re.compile(r"^go to (?P<place>.+?) \d+$")
_DONE = {"clean": "clean", "heat": "hot", "cool": "cool"}


class FewShotUnavailable(NoExpertPlan):
    """No worked example could be built (an env failure, or no training game of the type)."""


@dataclass(frozen=True)
class ExampleStep:
    action: str  # a command, or "think: ..."
    observation: str  # what the game answered ("OK." for a thought)


@dataclass(frozen=True)
class Example:
    game_id: str
    task_type: str
    initial_observation: str
    steps: tuple[ExampleStep, ...]


@dataclass(frozen=True)
class _Plan:
    """The names a walkthrough mentions, without instance numbers."""

    obj: str = "object"
    target: str = "receptacle"
    tool: str = ""
    verb: str = ""
    lamp: str = ""

    @classmethod
    def of(cls, actions: list[str]) -> _Plan:
        obj = target = tool = verb = lamp = ""
        for action in actions:
            if (take := _TAKE.match(action)) and not obj:
                obj = take["obj"]
            elif place := _PLACE.match(action):
                target = place["recep"]
            elif change := _CHANGE.match(action):
                verb, tool = change["verb"], change["tool"]
            elif use := _USE.match(action):
                lamp = use["lamp"]
        return cls(obj or "object", target or "receptacle", tool, verb, lamp)


def opening_thought(task_type: str, plan: _Plan) -> str:
    start = f"To solve the task, I need to find and take a {plan.obj}"
    if task_type == "look_at_obj_in_light":
        return f"{start}, then find a {plan.lamp or 'desklamp'} and use it."
    if task_type == "pick_two_obj_and_place":
        return (
            f"To solve the task, I need to find and take the first {plan.obj}, put it in/on the "
            f"{plan.target}, then find and take the second {plan.obj} and put it in/on the {plan.target} too."
        )
    if plan.verb:
        return f"{start}, then {plan.verb} it with the {plan.tool}, then put it in/on the {plan.target}."
    return f"{start}, then put it in/on the {plan.target}."


def _after(action: str, task_type: str, plan: _Plan, placed: int) -> str:
    """The thought that follows a key action ("" where nothing needs saying)."""
    if _TAKE.match(action):
        if task_type == "look_at_obj_in_light":
            return f"Now I have the {plan.obj}. Next, I need to find a {plan.lamp or 'desklamp'}."
        if plan.verb:
            return f"Now I have the {plan.obj}. Next, I need to go to the {plan.tool} and {plan.verb} it."
        return f"Now I have the {plan.obj}. Next, I need to put it in/on the {plan.target}."
    if change := _CHANGE.match(action):
        done = _DONE[change["verb"]]
        return f"Now the {plan.obj} is {done}. Next, I need to put it in/on the {plan.target}."
    if _PLACE.match(action) and task_type == "pick_two_obj_and_place" and placed == 1:
        return f"Now the first {plan.obj} is in/on the {plan.target}. Next, I need to find the second one."
    return ""


def annotate(task_type: str, actions: list[str], observations: list[str]) -> list[ExampleStep]:
    """The expert's steps with our template thoughts inserted before and after key actions."""
    plan = _Plan.of(actions)
    steps = [ExampleStep(f"think: {opening_thought(task_type, plan)}", THINK_REPLY)]
    placed = 0
    for index, (action, observation) in enumerate(zip(actions, observations, strict=True)):
        go = _GO.match(action)
        if index == 0 and go and task_type != "look_at_obj_in_light":
            first = f"First I need to find a {plan.obj}. I will start with the {go['place']}."
            steps.append(ExampleStep(f"think: {first}", THINK_REPLY))
        steps.append(ExampleStep(action, observation))
        placed += bool(_PLACE.match(action))
        if thought := _after(action, task_type, plan, placed):
            steps.append(ExampleStep(f"think: {thought}", THINK_REPLY))
    # Nothing to plan after the last action: the game is won.
    while steps and steps[-1].action.startswith("think:"):
        steps.pop()
    return steps


class FewShotLibrary:
    def __init__(
        self,
        env: EnvGateway,
        *,
        split: str = "generated_train",
        per_type: int = 2,
        max_candidates: int = 8,
        max_steps: int = 60,
    ) -> None:
        self._env = env
        self._split = split
        self._per_type = per_type
        self._max_candidates = max_candidates
        self._max_steps = max_steps
        self._builds: dict[str, asyncio.Task[tuple[Example, ...]]] = {}

    async def examples(self, task_type: str) -> tuple[Example, ...]:
        build = self._builds.get(task_type)
        if build is None or (build.done() and (build.cancelled() or build.exception() is not None)):
            build = self._builds[task_type] = asyncio.ensure_future(self._build(task_type))
        # Shielded: one episode being cancelled must not cancel the build the others wait for.
        return await asyncio.shield(build)

    async def _build(self, task_type: str) -> tuple[Example, ...]:
        examples: list[Example] = []
        for index in range(self._max_candidates):
            if len(examples) == self._per_type:
                break
            try:
                example = await self._play(task_type, index)
            except (errors.InvalidRequest, errors.NotFound):
                break  # no more games of this type
            except errors.AlfagentError as error:
                raise FewShotUnavailable(f"few-shot examples for {task_type}: {error}") from error
            if example is not None:
                examples.append(example)
        if not examples:
            raise FewShotUnavailable(
                f"no {task_type} game of split {self._split!r} could be won by the expert to build "
                "few-shot examples from"
            )
        if len(examples) < self._per_type:
            log.warning("fewer few-shot examples than wanted", extra={"task_type": task_type})
        log.info(
            "few-shot examples built",
            extra={"task_type": task_type, "games": [example.game_id for example in examples]},
        )
        return tuple(examples)

    async def _play(self, task_type: str, index: int) -> Example | None:
        request = EpisodeRequest(
            policy=PolicyKind.EXPERT,
            split=self._split,
            task_type=task_type,
            index=index,
            settings=EpisodeSettings(max_steps=self._max_steps),
        )
        session = await self._env.reset(request, with_expert_plan=True)
        actions: list[str] = []
        observations: list[str] = []
        state = session.state
        try:
            while not state.won and state.expert_plan and len(actions) < self._max_steps:
                action = state.expert_plan[0]
                state = await self._env.step(session.session_id, action)
                actions.append(action)
                observations.append(state.observation)
        finally:
            await self._env.close(session.session_id)
        if not state.won:
            log.warning("expert did not win a few-shot game", extra={"game_id": session.game.game_id})
            return None
        return Example(
            game_id=session.game.game_id,
            task_type=task_type,
            initial_observation=session.state.observation,
            steps=tuple(annotate(task_type, actions, observations)),
        )
