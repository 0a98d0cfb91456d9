"""The LLM policy: one `LLMPolicy` per episode, built by `LLMPolicies`, which the service holds.

A turn: build the prompt, call the model (with retries), and if the reply is only a thought,
answer it "OK." in the policy's own dialogue and call again, without an environment step, up to
`max_thoughts` thoughts per turn; then ground the last reply to a command. The `Decision`
carries the command sent, the turn's thoughts, the raw reply that produced the command, the
grounding, the summed usage, the retries by cause, the time spent on the LLM and how many
older steps the prompt left out. An endpoint that fails for good raises `PolicyError`, which
the runner stores as `end_reason=LLM_ERROR`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from agent_service.episode import Decision, EpisodeRequest, Usage
from agent_service.llm.client import ChatClient, ClientPool, Completion, Message, public_url
from agent_service.llm.fewshot import FewShotLibrary
from agent_service.llm.grounding import GROUNDINGS, ground, parse_reply
from agent_service.llm.prompts import PROMPT_MODES, PastStep, build_prompt, system_message
from agent_service.llm.retries import GaveUp, RetrySettings, call_with_retries
from agent_service.policies import TurnView
from agent_service.runner import PolicyError
from alfagent_common import errors

OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class LLMSettings:
    """One episode's settings, from its request and the service's defaults."""

    model: str
    base_url: str
    temperature: float = 0.0
    max_tokens: int = 0
    seed: int = 0
    prompt_mode: str = "react"
    grounding: str = "nearest"
    # Estimated (characters / 4) size the prompt may reach; older steps are left out beyond it.
    context_tokens: int = 6000
    # Thoughts answered "OK." per turn; a reply that is still a thought after that is grounded.
    max_thoughts: int = 3


class LLMPolicy:
    needs_expert_plan = False

    def __init__(
        self, client: ChatClient, library: FewShotLibrary, settings: LLMSettings, retry: RetrySettings
    ) -> None:
        self._client = client
        self._library = library
        self._settings = settings
        self._retry = retry
        self._system = ""
        # What the model said at each step so far: its thoughts and the command sent.
        self._said: list[tuple[tuple[str, ...], str]] = []
        self._steps: list[PastStep] = []

    async def decide(self, view: TurnView) -> Decision:
        if not self._system:
            examples = await self._library.examples(view.task_type)
            self._system = system_message(self._settings.prompt_mode, examples)
        self._catch_up(view)
        settings = self._settings
        admissible = view.admissible_commands if settings.prompt_mode == "admissible" else None
        thoughts: list[str] = []
        usage, causes, llm_ms, dropped = Usage(), list[str](), 0.0, 0
        while True:
            prompt = build_prompt(
                system=self._system,
                opening=view.initial_observation,
                steps=self._steps,
                thoughts=thoughts,
                admissible=admissible,
                budget_tokens=settings.context_tokens,
            )
            dropped = max(dropped, prompt.dropped_steps)
            started = time.perf_counter()
            try:
                retried = await call_with_retries(self._caller(prompt.messages), self._retry)
            except GaveUp as error:
                raise PolicyError(str(error), retry_causes=(*causes, *error.causes), usage=usage) from None
            finally:
                llm_ms += (time.perf_counter() - started) * 1000
            completion = retried.value
            usage, causes = usage + completion.usage, [*causes, *retried.causes]
            reply = parse_reply(completion.text)
            if reply.thinks_only and len(thoughts) < settings.max_thoughts:
                thoughts.append(reply.thought)
                continue
            if reply.thought and reply.action:
                thoughts.append(reply.thought)
            break
        grounded = ground(reply.action or reply.thought, view.admissible_commands, settings.grounding)
        self._said.append((tuple(thoughts), grounded.action))
        return Decision(
            action=grounded.action,
            thought="\n".join(thoughts),
            raw_output=completion.text,
            grounding=grounded.grounding,
            usage=usage,
            retries=len(causes),
            retry_causes=tuple(causes),
            llm_latency_ms=llm_ms,
            dropped_turns=dropped,
        )

    def _caller(self, messages: list[Message]) -> Callable[[], Awaitable[Completion]]:
        settings = self._settings

        def call() -> Awaitable[Completion]:
            return self._client.complete(
                settings.model,
                messages,
                temperature=settings.temperature,
                max_tokens=settings.max_tokens,
                seed=settings.seed,
            )

        return call

    def _catch_up(self, view: TurnView) -> None:
        """Pairs what the model said with what the game answered, for the steps since last turn."""
        if len(self._said) != len(view.history):
            # Not our own history (a policy reused across episodes): show the commands only.
            self._said = [((), turn.action) for turn in view.history]
            self._steps = []
        for (thoughts, action), turn in zip(
            self._said[len(self._steps) :], view.history[len(self._steps) :], strict=True
        ):
            self._steps.append(PastStep(thoughts, action, turn.observation))


class LLMPolicies:
    """Builds one `LLMPolicy` per episode, sharing HTTP clients and few-shot examples.

    The API key is only ever sent to the configured endpoint (`OPENAI_BASE_URL`, or OpenAI's own
    when that is unset): a request naming another `base_url` is sent without it, so no caller
    can have the key delivered to a server of their choosing. With `allowed_base_urls` set
    (ALFAGENT_ALLOWED_BASE_URLS), a request may name no endpoint but those and the configured
    one: the agent then calls no server its callers choose.
    """

    def __init__(
        self,
        *,
        library: FewShotLibrary,
        default_model: str,
        default_base_url: str,
        api_key: str,
        timeout_seconds: float,
        retry: RetrySettings,
        context_tokens: int = LLMSettings.context_tokens,
        allowed_base_urls: tuple[str, ...] = (),
    ) -> None:
        self._library = library
        self._default_model = default_model
        self._default_base_url = default_base_url
        self._api_key = api_key
        self._retry = retry
        self._context_tokens = context_tokens
        self._allowed_base_urls = allowed_base_urls
        self._clients = ClientPool(timeout_seconds=timeout_seconds)

    def settings_for(self, request: EpisodeRequest) -> LLMSettings:
        model = request.model or self._default_model
        base_url = request.base_url or self._default_base_url
        if not model:
            raise errors.InvalidRequest(
                "the LLM policy needs a model: set `model` in the request or ALFAGENT_MODEL for the agent"
            )
        if not base_url:
            raise errors.InvalidRequest(
                "the LLM policy needs an endpoint: set `base_url` in the request (e.g. "
                "http://localhost:8000/v1) or OPENAI_BASE_URL for the agent"
            )
        if not base_url.startswith(("http://", "https://")):
            raise errors.InvalidRequest(
                f"base_url {public_url(base_url)!r} must start with http:// or https://"
            )
        if not self._may_call(base_url):
            raise errors.PermissionDenied(
                f"base_url {public_url(base_url)!r} is not an endpoint this agent may call; it allows "
                f"{', '.join(map(public_url, self._allowed_base_urls))} (ALFAGENT_ALLOWED_BASE_URLS) "
                "and OPENAI_BASE_URL"
            )
        if request.prompt_mode not in PROMPT_MODES:
            raise errors.InvalidRequest(f"prompt_mode {request.prompt_mode!r} is not one of {PROMPT_MODES}")
        if request.grounding not in GROUNDINGS:
            raise errors.InvalidRequest(f"grounding {request.grounding!r} is not one of {GROUNDINGS}")
        return LLMSettings(
            model=model,
            base_url=base_url,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            seed=request.seed,
            prompt_mode=request.prompt_mode,
            grounding=request.grounding,
            context_tokens=self._context_tokens,
        )

    def _may_call(self, base_url: str) -> bool:
        if not self._allowed_base_urls or _same_endpoint(base_url, self._default_base_url):
            return True
        return any(endpoint_within(base_url, allowed) for allowed in self._allowed_base_urls)

    def key_for(self, base_url: str) -> str:
        keyed = self._default_base_url or OPENAI_BASE_URL
        return self._api_key if _same_endpoint(base_url, keyed) else ""

    def __call__(self, request: EpisodeRequest) -> LLMPolicy:
        settings = self.settings_for(request)
        client = self._clients.get(settings.base_url, self.key_for(settings.base_url))
        return LLMPolicy(client, self._library, settings, self._retry)

    async def close(self) -> None:
        await self._clients.close()


def endpoint_within(url: str, allowed: str) -> bool:
    """Whether `url` is `allowed` or below it: same scheme, host and port, and a path under its
    path at a `/` boundary (so `http://llm:8000` does not admit `http://llm:8000.evil.example`)."""
    a, b = urlsplit(url), urlsplit(allowed)
    default_ports = {"http": 80, "https": 443}
    try:
        ports = (a.port or default_ports.get(a.scheme.lower()), b.port or default_ports.get(b.scheme.lower()))
    except ValueError:  # a port that is not a number
        return False
    if (a.scheme.lower(), a.hostname, ports[0]) != (b.scheme.lower(), b.hostname, ports[1]):
        return False
    base = b.path.rstrip("/")
    return a.path.rstrip("/") == base or a.path.startswith(base + "/")


def _same_endpoint(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()
