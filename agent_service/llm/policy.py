"""The LLM policy: one `LLMPolicy` per episode, built by `LLMPolicies`, which the service holds.

A turn: build the prompt, call the model (with retries), and if the reply is only a thought,
answer it "OK." in the policy's own dialogue and call again, without an environment step, up to
`max_thoughts` thoughts per turn; then ground the last reply to a command. The `Decision`
carries the command sent, the turn's thoughts, the raw reply that produced the command, the
grounding, the summed usage, the retries by cause, the time spent on the LLM and how many
older steps the prompt left out. An endpoint that fails for good raises `PolicyError`, which
the runner stores as `end_reason=LLM_ERROR`.

Generation stops at the end of the first line (`stop`, default a newline): one line is one
answer, a thought or a command, and a model that goes on to write "OK.", further commands and
observations of its own is cut off before it spends time on them. A reply that is empty under
that rule (a model opening with a blank line or a code fence) is asked once more without the stop.

The prompt budget is the smaller of ALFAGENT_CONTEXT_TOKENS and what fits one slot of the server
(`/props`), less the completion's own tokens. A server that still answers "exceeds the available
context size" gets the prompt again, cut to the size it names (once per turn, counted as a retry
with cause "context").
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass

from agent_service.episode import Decision, EpisodeRequest, Usage
from agent_service.llm.client import DEFAULT_POOL_SIZE, ChatClient, ClientPool, Completion, Message, Timeouts
from agent_service.llm.decoding import grammar_for
from agent_service.llm.egress import EgressPolicy
from agent_service.llm.endpoints import EndpointRules
from agent_service.llm.fewshot import FewShotLibrary
from agent_service.llm.grounding import Grounded, ground, parse_reply
from agent_service.llm.prompts import (
    PastStep,
    Prompt,
    admissible_list,
    build_prompt,
    shown_observation,
    system_message,
    turn_messages,
)
from agent_service.llm.retries import GaveUp, Retried, RetrySettings, call_with_retries
from agent_service.llm.skill_context import SkillContext, procedure_line, skill_context
from agent_service.llm.tokens import TokenCounter
from agent_service.policies import PolicyError, TurnView
from agent_service.skills import grammar
from agent_service.skills.executor import Execution, SkillCallError, Verdict, ground_arguments, parse_call
from agent_service.skills.library import Procedure, SkillLibrary
from agent_service.vocabulary import (
    DEFAULT_DECODING,
    DEFAULT_GROUNDING,
    DEFAULT_PROMPT_MODE,
    Decoding,
    Grounding,
    PromptMode,
)
from alfagent_common import errors

# How a command that a procedure call sent is recorded (Step.grounding).
SKILL_GROUNDING = "skill"
# Stop at the end of the line: one line is one answer (see module docstring).
DEFAULT_STOP = ("\n",)
# OpenAI accepts at most 4 stop strings.
MAX_STOP_STRINGS = 4
# Completion tokens kept free in a slot's context when the request sets no max_tokens.
_DEFAULT_COMPLETION_RESERVE = 256
# Completion tokens of the one re-ask without `stop` (see module docstring).
_REASK_MAX_TOKENS = 64
# Slack for the counting error of texts glued together (a note, the command list).
_CONTEXT_MARGIN = 32


@dataclass(frozen=True)
class LLMSettings:
    """One episode's settings, from its request and the service's defaults."""

    model: str
    base_url: str
    temperature: float = 0.0
    max_tokens: int = 0
    seed: int = 0
    prompt_mode: PromptMode = DEFAULT_PROMPT_MODE
    grounding: Grounding = DEFAULT_GROUNDING
    # Size in tokens the prompt may reach; older steps are left out beyond it.
    context_tokens: int = 6000
    # Thoughts answered "OK." per turn; one more thought after that sends "look" (see decide).
    max_thoughts: int = 3
    stop: tuple[str, ...] = DEFAULT_STOP
    # The note on a command that got the same answer this many times (0 or negative: never).
    repeat_note_after: int = 0
    decoding: Decoding = DEFAULT_DECODING


class LLMPolicy:
    needs_expert_plan = False

    def __init__(
        self,
        client: ChatClient,
        library: FewShotLibrary,
        settings: LLMSettings,
        retry: RetrySettings,
        counter: TokenCounter | None = None,
        skills: SkillLibrary | None = None,
    ) -> None:
        self._client = client
        self._library = library
        self._settings = settings
        self._retry = retry
        self._counter = counter or TokenCounter()
        self._system = ""
        self._skills = skills
        # The skill library's entries the prompt shows (the same every turn: they are in the
        # system message).
        self._shown: tuple[str, ...] = ()
        # Procedures the model may call, the call being played and how it was written.
        self._procedures: tuple[Procedure, ...] = ()
        self._execution: Execution | None = None
        self._skill_call = ""
        # What the model said at each step so far: its thoughts and the command sent.
        self._said: list[tuple[tuple[str, ...], str]] = []
        self._steps: list[PastStep] = []
        # Oldest steps left out of the prompt; only grows, so the prompt's prefix stays put.
        self._dropped = 0
        # The context the server said it has, once it refused a prompt as too long.
        self._server_context = 0
        # How often each (command, answer) happened so far in this episode.
        self._seen: Counter[tuple[str, str]] = Counter()

    async def decide(self, view: TurnView) -> Decision:
        if not self._system:
            context = SkillContext()
            if self._skills is not None:
                context = skill_context(self._skills, view.task_type, view.task, view.initial_observation)
            examples = context.examples or await self._library.examples(view.task_type)
            procedures = [procedure_line(p) for p in context.procedures]
            self._system = system_message(self._settings.prompt_mode, examples, context.facts, procedures)
            self._shown = context.shown
            self._procedures = context.procedures
        self._catch_up(view)
        if (next_step := self._continue_skill(view)) is not None:
            return next_step
        settings = self._settings
        admissible = view.admissible_commands if settings.prompt_mode is PromptMode.ADMISSIBLE else None
        thoughts: list[str] = []
        usage, causes, llm_ms = Usage(), list[str](), 0.0
        shrunk = False
        stop = settings.stop
        # One grammar for the turn's calls (thoughts included): the commands do not change meanwhile.
        grammar = grammar_for(settings.decoding, view.admissible_commands, [p.name for p in self._procedures])
        while True:
            prompt = await self._prompt(view, thoughts, admissible)
            started = time.perf_counter()
            try:
                retried = await self._call(prompt.messages, stop, grammar)
            except GaveUp as error:
                if error.context_tokens and not shrunk:
                    # The server's slot is smaller than we knew: cut the prompt to it and ask again.
                    self._server_context, shrunk = error.context_tokens, True
                    causes += [*error.causes, "context"]
                    continue
                raise PolicyError(str(error), retry_causes=(*causes, *error.causes), usage=usage) from None
            finally:
                llm_ms += (time.perf_counter() - started) * 1000
            completion = retried.value
            usage, causes = usage + completion.usage, [*causes, *retried.causes]
            self._counter.calibrate(prompt.messages, completion.usage.prompt_tokens)
            reply = parse_reply(completion.text)
            if reply.empty and stop:
                # Nothing before the first line break (a blank line, a code fence): read the
                # whole answer this once.
                stop = ()
                continue
            stop = settings.stop
            if reply.thinks_only and len(thoughts) < settings.max_thoughts:
                thoughts.append(reply.thought)
                continue
            if reply.thought:
                thoughts.append(reply.thought)
            break
        # Still only thinking after the thoughts allowed: no command to send, so "look" (see
        # grounding.EMPTY_REPLY_ACTION). Sending the thought's text instead put it in the history
        # as the model's own command, and Qwen 1.5B then sent that text 10 times in a row.
        call = self._start_skill(reply.action, view)
        grounded = (
            Grounded(call.next_action(), SKILL_GROUNDING)
            if call is not None
            else ground(reply.action, view.admissible_commands, settings.grounding)
        )
        self._said.append((tuple(thoughts), grounded.action))
        return Decision(
            action=grounded.action,
            skill=self._skill_call if call is not None else "",
            thought="\n".join(thoughts),
            raw_output=completion.text,
            grounding=grounded.grounding,
            usage=usage,
            retries=len(causes),
            retry_causes=tuple(causes),
            llm_latency_ms=llm_ms,
            dropped_turns=self._dropped,
            skills_shown=self._shown,
        )

    async def _prompt(
        self, view: TurnView, thoughts: list[str], admissible: tuple[str, ...] | None
    ) -> Prompt:
        """The next prompt, within budget; the counter learns the texts it has not seen."""
        texts = [self._system, view.initial_observation]
        texts += [m.content for step in self._steps[self._dropped :] for m in step.messages]
        texts += [m.content for m in turn_messages(thoughts)]
        if admissible is not None:
            texts.append(admissible_list(admissible))
        await self._counter.prepare(texts)
        prompt = build_prompt(
            system=self._system,
            opening=view.initial_observation,
            steps=self._steps,
            thoughts=thoughts,
            admissible=admissible,
            budget_tokens=await self._budget(),
            counter=self._counter,
            dropped=self._dropped,
        )
        self._dropped = prompt.dropped_steps
        return prompt

    async def _budget(self) -> int:
        """ALFAGENT_CONTEXT_TOKENS, or less where one slot of the server holds less."""
        budget = self._settings.context_tokens
        props = await self._client.props()
        slot = self._server_context or (props.slot_context_tokens if props else 0)
        if slot:
            reserve = (
                self._settings.max_tokens if self._settings.max_tokens > 0 else _DEFAULT_COMPLETION_RESERVE
            )
            budget = min(budget, slot - reserve - _CONTEXT_MARGIN)
        return max(budget, 1)

    async def _call(
        self, messages: list[Message], stop: tuple[str, ...], grammar: str | None = None
    ) -> Retried[Completion]:
        settings = self._settings
        max_tokens = settings.max_tokens
        if settings.stop and not stop:
            # The re-ask after an empty first line: a fence, a command and a fence need few
            # tokens, and this reply is not cut at the line's end.
            max_tokens = min(max_tokens, _REASK_MAX_TOKENS) if max_tokens > 0 else _REASK_MAX_TOKENS

        def call() -> Awaitable[Completion]:
            return self._client.complete(
                settings.model,
                messages,
                temperature=settings.temperature,
                max_tokens=max_tokens,
                seed=settings.seed,
                stop=stop,
                grammar=grammar,
            )

        return await call_with_retries(call, self._retry)

    def _start_skill(self, text: str, view: TurnView) -> Execution | None:
        """A procedure call, when the reply is one of those offered (else None: a command)."""
        if not self._procedures or "(" not in text:
            return None
        try:
            procedure, arguments = parse_call(text.strip(), self._procedures)
            arguments = ground_arguments(arguments, self._named_so_far(view))
        except SkillCallError:
            # Not a well-formed call: sent as the command it was written as, and the game says
            # "Nothing happens.", which the model sees.
            return None
        self._execution = Execution(procedure, arguments)
        self._skill_call = f"{procedure.name}({', '.join(f'{k}={v}' for k, v in arguments.items())})"
        return self._execution

    @staticmethod
    def _named_so_far(view: TurnView) -> list[str]:
        """Everything the game named so far, latest first (where the player is now comes first)."""
        texts = [view.initial_observation, *(turn.observation for turn in view.history)]
        return [name for text in reversed(texts) for name in grammar.instances(text)]

    def _continue_skill(self, view: TurnView) -> Decision | None:
        """The next command of the procedure in progress, without asking the model; None once it
        is done or handed back (the game answered what it did not expect)."""
        execution = self._execution
        if execution is None or not view.history:
            return None
        if execution.observe(view.history[-1].observation) is not Verdict.CONTINUE:
            self._execution = None
            return None
        action = execution.next_action()
        self._said.append(((), action))
        return Decision(
            action=action,
            grounding=SKILL_GROUNDING,
            skill=self._skill_call,
            dropped_turns=self._dropped,
            skills_shown=self._shown,
        )

    def _catch_up(self, view: TurnView) -> None:
        """Pairs what the model said with what the game answered, for the steps since last turn."""
        if len(self._said) != len(view.history):
            # Not our own history (a policy reused across episodes): show the commands only.
            self._said = [((), turn.action) for turn in view.history]
            self._steps = []
            self._dropped = 0
            self._seen = Counter()
        for index in range(len(self._steps), len(view.history)):
            (thoughts, action), turn = self._said[index], view.history[index]
            key = (action, turn.observation)
            self._seen[key] += 1
            shown = shown_observation(turn.observation, self._seen[key], self._settings.repeat_note_after)
            self._steps.append(PastStep(thoughts, action, shown))


class LLMPolicies:
    """Builds one `LLMPolicy` per episode, sharing HTTP clients and few-shot examples; which
    endpoints a request may name, and which get the API key, is `endpoints.EndpointRules`."""

    def __init__(
        self,
        *,
        library: FewShotLibrary,
        default_base_url: str,
        api_key: str,
        retry: RetrySettings,
        timeouts: Timeouts | None = None,
        context_tokens: int = LLMSettings.context_tokens,
        allowed_base_urls: tuple[str, ...] = (),
        concurrency: int = 0,
        stop: tuple[str, ...] = DEFAULT_STOP,
        egress: EgressPolicy | None = None,
        clients: int = DEFAULT_POOL_SIZE,
    ) -> None:
        if len(stop) > MAX_STOP_STRINGS:
            raise ValueError(f"at most {MAX_STOP_STRINGS} stop strings (OpenAI's limit), got {len(stop)}")
        self._library = library
        self._retry = retry
        self._context_tokens = context_tokens
        self._endpoints = EndpointRules(default_base_url, api_key, allowed_base_urls, egress=egress)
        self._stop = stop
        self._clients = ClientPool(timeouts=timeouts, concurrency=concurrency, size=clients, egress=egress)
        # Token counts are the server's (its tokenizer), so one counter per endpoint; as many kept
        # as clients, least recently used dropped first.
        self._counters: OrderedDict[str, TokenCounter] = OrderedDict()
        self._counters_kept = clients

    def settings_for(self, request: EpisodeRequest) -> LLMSettings:
        settings = request.settings
        if not settings.model:
            raise errors.InvalidRequest(
                "the LLM policy needs a model: set `model` in the request or ALFAGENT_MODEL for the agent"
            )
        if not settings.base_url:
            raise errors.InvalidRequest(
                "the LLM policy needs an endpoint: set `base_url` in the request (e.g. "
                "http://localhost:8000/v1) or OPENAI_BASE_URL for the agent"
            )
        self._endpoints.check(settings.base_url)
        return LLMSettings(
            model=settings.model,
            base_url=settings.base_url,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            prompt_mode=settings.prompt_mode,
            grounding=settings.grounding,
            context_tokens=self._context_tokens,
            stop=self._stop,
            repeat_note_after=settings.repeat_note_after,
            decoding=settings.decoding,
        )

    def __call__(self, request: EpisodeRequest) -> LLMPolicy:
        settings = self.settings_for(request)
        checked = self._endpoints.check(settings.base_url)
        client = self._clients.get(checked, self._endpoints.key_for(settings.base_url))
        endpoint = settings.base_url.rstrip("/")
        counter = self._counters.get(endpoint)
        if counter is None:
            counter = self._counters[endpoint] = TokenCounter(client.count_tokens)
            while len(self._counters) > self._counters_kept:
                self._counters.popitem(last=False)
        self._counters.move_to_end(endpoint)
        return LLMPolicy(client, self._library, settings, self._retry, counter, request.skills)

    async def close(self) -> None:
        await self._clients.close()
