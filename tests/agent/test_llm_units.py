"""The LLM policy's pure parts: parsing and grounding replies, prompts, template thoughts, settings,
Retry-After, redaction, and the wiring in `make_policy_factory`."""

from __future__ import annotations

import asyncio
import email.utils
import itertools
from dataclasses import replace

import pytest

from agent_service.config import AgentConfig
from agent_service.convert import evaluation_from_proto, request_from_proto
from agent_service.episode import EpisodeRequest, PolicyKind
from agent_service.llm.client import ChatClient, Message, public_url, retry_after_seconds
from agent_service.llm.endpoints import EndpointRules, endpoint_within
from agent_service.llm.fewshot import Example, ExampleStep, FewShotLibrary, annotate
from agent_service.llm.grounding import Grounded, ground, normalise, parse_reply
from agent_service.llm.policy import LLMPolicies, LLMPolicy
from agent_service.llm.prompts import KEEP_AFTER_DROP, PastStep, Prompt, build_prompt, system_message
from agent_service.llm.retries import RetrySettings
from agent_service.llm.tokens import TokenCounter
from agent_service.server import make_policy_factory
from agent_service.settings import EpisodeSettings
from agent_service.vocabulary import (
    DEFAULT_GROUNDING,
    DEFAULT_PROMPT_MODE,
    Grounding,
    PromptMode,
    parse_setting,
)
from alfagent.agent.v1 import agent_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import errors
from alfagent_common.settings import ConfigError

ADMISSIBLE = (
    "go to desk 1",
    "go to shelf 1",
    "go to shelf 2",
    "take pencil 1 from desk 1",
    "move pencil 1 to shelf 1",
    "look",
)


# Replies as models write them (the first rows as Qwen2.5-Coder-1.5B did), read as a person would.
@pytest.mark.parametrize(
    ("text", "thought", "action"),
    [
        ("go to desk 1", "", "go to desk 1"),
        (
            "think: I need an apple first.\nput apple in fridge",
            "I need an apple first.",
            "put apple in fridge",
        ),
        ("think: a\nOK.\n> go to desk 1\nYou arrive at desk 1.\n> take pencil 1", "a", "go to desk 1"),
        ("> go to desk 1\nOn the desk 1, you see a pencil 1.", "", "go to desk 1"),
        ("  think: find it  \n\n", "find it", ""),
        ("Think: a\n> think: b\ngo to desk 1\nYou arrive.", "a b", "go to desk 1"),
        ("\n\ttake pencil 1\tfrom desk 1 \n", "", "take pencil 1 from desk 1"),
        ("```\ngo to desk 1\n```", "", "go to desk 1"),
        ("```text\n> open fridge 1\n```", "", "open fridge 1"),
        ("`take pencil 1 from desk 1`", "", "take pencil 1 from desk 1"),
        ('"go to shelf 1"', "", "go to shelf 1"),
        ("\u201cgo to shelf 1\u201d", "", "go to shelf 1"),
        ("Go to Desk 1.", "", "go to desk 1"),
        ("go  to desk 1!", "", "go to desk 1"),
        ("**Action:** go to desk 1", "", "go to desk 1"),
        ("Action:\ngo to desk 1", "", "go to desk 1"),
        ("Command: examine desk 1", "", "examine desk 1"),
        ("- go to desk 1", "", "go to desk 1"),
        ("1. go to desk 1", "", "go to desk 1"),
        (
            "Thought: the pencil may be on the desk.\nAction: go to desk 1",
            "the pencil may be on the desk.",
            "go to desk 1",
        ),
        ("Thought: it is on the desk. Action: go to desk 1", "it is on the desk.", "go to desk 1"),
        ("**Thought:** plan first", "plan first", ""),
        ("Here is my next command:\ngo to desk 1", "", "go to desk 1"),
        ("put pencil 1 in/on shelf 1", "", "put pencil 1 in/on shelf 1"),
        ("move pencil 1 to shelf 1", "", "move pencil 1 to shelf 1"),
        # The simulator's answers, echoed by Qwen2.5-Coder-0.5B, are not commands.
        ("OK.", "", ""),
        ("ok", "", ""),
        ("Nothing happens.", "", ""),
        ("OK.\n> go to desk 1", "", "go to desk 1"),
        ("nothing happens\ntake pencil 1 from desk 1", "", "take pencil 1 from desk 1"),
        ("", "", ""),
        ("```", "", ""),
    ],
)
def test_parse_reply(text: str, thought: str, action: str) -> None:
    reply = parse_reply(text)
    assert (reply.thought, reply.action) == (thought, action)
    assert reply.thinks_only == (bool(thought) and not action)
    assert reply.empty == (not thought and not action)


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("> Go to  Desk 1.", "go to desk 1"),
        ("Action: `take pencil 1 from desk 1`", "take pencil 1 from desk 1"),
        ("put pencil 1 in/on shelf 1", "move pencil 1 to shelf 1"),
        ("take the pencil 1 from a desk 1", "take pencil 1 from desk 1"),
        ('"look"', "look"),
    ],
)
def test_normalise(text: str, normal: str) -> None:
    assert normalise(text) == normal


@pytest.mark.parametrize(
    ("mode", "line", "grounded"),
    [
        ("exact", "go to desk 1", Grounded("go to desk 1", "exact")),
        # The model's own command, as it wrote it, even when the game will not accept it.
        ("exact", "go to the shelf", Grounded("go to the shelf", "none")),
        ("exact", "move pencil to shelf", Grounded("move pencil to shelf", "none")),
        ("exact", "", Grounded("look", "none")),
        ("normalised", "go to the desk 1", Grounded("go to desk 1", "normalised")),
        ("normalised", "move pencil to shelf", Grounded("move pencil 1 to shelf 1", "normalised")),
        ("normalised", "go to desk", Grounded("go to desk 1", "normalised")),
        ("normalised", "fly to the moon", Grounded("fly to the moon", "none")),
        ("nearest", "go to the shelf", Grounded("go to shelf 1", "nearest")),
        ("nearest", "take pencil from the desk", Grounded("take pencil 1 from desk 1", "normalised")),
        ("nearest", "heat pencil 1 with desk 1", Grounded("take pencil 1 from desk 1", "nearest")),
        ("nearest", "look", Grounded("look", "exact")),
        # The older grammar, written in the game's dialect: the same choice, under every grounding.
        ("exact", "put pencil 1 in/on shelf 1", Grounded("move pencil 1 to shelf 1", "exact")),
        ("exact", "place pencil 1 on shelf 1", Grounded("move pencil 1 to shelf 1", "exact")),
        ("exact", "put pencil 1 in shelf 2", Grounded("move pencil 1 to shelf 2", "none")),
        ("normalised", "put the pencil into shelf", Grounded("move pencil 1 to shelf 1", "normalised")),
    ],
)
def test_ground(mode: str, line: str, grounded: Grounded) -> None:
    assert ground(line, ADMISSIBLE, Grounding(mode)) == grounded


def test_placing_is_written_in_the_dialect_of_the_game() -> None:
    official = ("go to shelf 1", "put pencil 1 in/on shelf 1", "look")
    put = Grounded("put pencil 1 in/on shelf 1", "exact")
    assert ground("move pencil 1 to shelf 1", official, Grounding.EXACT) == put
    assert ground("put pencil 1 on shelf 1", official, Grounding.EXACT) == put
    # Nothing to place right now: sent as the model wrote it.
    assert ground("put pencil 1 in shelf 1", ("look",), Grounding.EXACT) == Grounded(
        "put pencil 1 in shelf 1", "none"
    )


def test_normalised_does_not_guess_between_instances() -> None:
    assert ground("go to shelf", ADMISSIBLE, Grounding.NORMALISED) == Grounded("go to shelf", "none")


def test_ground_never_sends_an_empty_or_huge_action() -> None:
    assert ground("", (), Grounding.NEAREST) == Grounded("look", "none")
    assert len(ground("x" * 5000, ADMISSIBLE, Grounding.EXACT).action) == 200


def test_settings_are_checked_once_at_the_edge() -> None:
    assert parse_setting(Grounding, "", "grounding", DEFAULT_GROUNDING) is Grounding.EXACT
    assert (
        parse_setting(PromptMode, "admissible", "prompt_mode", DEFAULT_PROMPT_MODE) is PromptMode.ADMISSIBLE
    )
    with pytest.raises(
        errors.InvalidRequest, match="grounding 'fuzzy' is not one of exact, normalised, nearest"
    ):
        parse_setting(Grounding, "fuzzy", "grounding", DEFAULT_GROUNDING)


def test_retry_after_in_seconds_milliseconds_or_a_date() -> None:
    assert retry_after_seconds({"retry-after": "2.5"}) == 2.5
    assert retry_after_seconds({"retry-after-ms": "150", "retry-after": "9"}) == 0.15
    assert retry_after_seconds({}) is None and retry_after_seconds({"retry-after": "soon"}) is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now=1_000_000) == pytest.approx(30)


def test_redaction_masks_the_key_and_key_like_text() -> None:
    client = ChatClient("http://127.0.0.1:1/v1", "sk-secret-abcdef123456")
    text = client.redact("bad key sk-secret-abcdef123456, also sk-proj-****3456 and Bearer xyz")
    assert "abcdef" not in text and "3456" not in text and "xyz" not in text
    assert public_url("https://user:pw@example.com:8443/v1") == "https://example.com:8443/v1"


WALKTHROUGHS = {
    "pick_clean_then_place_in_recep": [
        "go to countertop 1",
        "take spoon 2 from countertop 1",
        "go to sinkbasin 1",
        "clean spoon 2 with sinkbasin 1",
        "go to diningtable 1",
        "move spoon 2 to diningtable 1",
    ],
    "look_at_obj_in_light": [
        "go to sofa 1",
        "take creditcard 1 from sofa 1",
        "go to sidetable 1",
        "use desklamp 1",
    ],
    "pick_two_obj_and_place": [
        "go to shelf 1",
        "take box 1 from shelf 1",
        "go to dresser 1",
        "move box 1 to dresser 1",
        "go to shelf 4",
        "take box 3 from shelf 4",
        "go to dresser 1",
        "move box 3 to dresser 1",
    ],
}


def thoughts_of(task_type: str) -> list[str]:
    actions = WALKTHROUGHS[task_type]
    steps = annotate(task_type, actions, [f"obs {i}" for i in range(len(actions))])
    assert [s.action for s in steps if not s.action.startswith("think:")] == actions
    assert all(s.observation == "OK." for s in steps if s.action.startswith("think:"))
    assert not steps[-1].action.startswith("think:")
    return [s.action for s in steps if s.action.startswith("think:")]


def test_template_thoughts_follow_the_task_type() -> None:
    assert thoughts_of("pick_clean_then_place_in_recep") == [
        "think: To solve the task, I need to find and take a spoon, then clean it with the sinkbasin, "
        "then put it in/on the diningtable.",
        "think: First I need to find a spoon. I will start with the countertop.",
        "think: Now I have the spoon. Next, I need to go to the sinkbasin and clean it.",
        "think: Now the spoon is clean. Next, I need to put it in/on the diningtable.",
    ]
    look = thoughts_of("look_at_obj_in_light")
    assert look[0].endswith("take a creditcard, then find a desklamp and use it.")
    assert look[1] == "think: Now I have the creditcard. Next, I need to find a desklamp."
    two = thoughts_of("pick_two_obj_and_place")
    assert "the second box" in two[0]
    assert "think: Now the first box is in/on the dresser. Next, I need to find the second one." in two


def example(steps: int) -> Example:
    return Example(
        "g", "t", "Your task is to: x.", tuple(ExampleStep(f"a{i}", f"o{i}") for i in range(steps))
    )


def test_prompt_keeps_every_step_when_it_fits_and_the_newest_when_not() -> None:
    system = system_message(PromptMode.REACT, [example(2)])
    counter = TokenCounter()
    steps = [PastStep(("t",) if i == 3 else (), f"action {i}", "x" * 80) for i in range(10)]

    def prompt(budget: int, dropped: int = 0, count: int = 10, thoughts: tuple[str, ...] = ()) -> Prompt:
        return build_prompt(
            system=system,
            opening="start",
            steps=steps[:count],
            thoughts=thoughts,
            admissible=["look"] if thoughts else None,
            budget_tokens=budget,
            counter=counter,
            dropped=dropped,
        )

    whole = prompt(10**6)
    assert whole.dropped_steps == 0 and len(whole.messages) == 2 + 2 * 10 + 2
    assert [m.role for m in whole.messages[:3]] == ["system", "user", "assistant"]
    assert whole.estimated_tokens == counter.messages(whole.messages)
    fixed = counter.message(Message("system", system)) + counter.message(Message("user", "start"))
    small = prompt(fixed + 200, thoughts=("now",))
    assert 0 < small.dropped_steps < 10 and small.estimated_tokens <= fixed + 200
    assert small.messages[1].content.startswith("start\n\n[The first")
    assert small.messages[2].content == f"action {small.dropped_steps}"
    assert small.messages[-2].content == "think: now"
    assert small.messages[-1].content == "OK.\n\nCommands you can use now:\nlook"


def test_steps_are_left_out_in_one_chunk_so_the_prefix_stays_put() -> None:
    counter = TokenCounter()
    steps = [PastStep((), f"go to place {i}", f"You arrive at place {i}. " + "y" * 60) for i in range(40)]
    budget = counter.text("sys") + 600
    dropped, history = 0, []
    for count in range(1, 41):
        prompt = build_prompt(
            system="sys",
            opening="start",
            steps=steps[:count],
            thoughts=(),
            admissible=None,
            budget_tokens=budget,
            counter=counter,
            dropped=dropped,
        )
        assert prompt.estimated_tokens <= budget
        if prompt.dropped_steps > dropped:
            # A drop leaves the steps at most half the room, so several turns follow before the next.
            assert prompt.estimated_tokens <= budget * (1 + KEEP_AFTER_DROP) / 2
        dropped = prompt.dropped_steps
        history.append((dropped, prompt.messages))
    drops = sorted({d for d, _ in history})
    assert drops[0] == 0 and len(drops) >= 3
    # Between drops every prompt extends the one before it: a prompt cache reuses all of it.
    for (d1, m1), (d2, m2) in itertools.pairwise(history):
        if d1 == d2:
            assert m2[: len(m1)] == m1
    assert len(drops) <= 40 // 4, "steps are dropped in chunks, not one per turn"


def test_token_counter_uses_the_servers_counts_and_learns_the_template_overhead() -> None:
    async def tokenize(text: str) -> int | None:
        return len(text.split())

    counter = TokenCounter(tokenize)
    messages = [Message("system", "one two three"), Message("user", "four five")]
    asyncio.run(counter.prepare([m.content for m in messages]))
    assert counter.exact and counter.text("one two three") == 3
    counter.calibrate(messages, prompt_tokens=5 + 2 * 7)
    assert counter.message_overhead == 7 and counter.messages(messages) == 5 + 14

    async def broken(text: str) -> int | None:
        return None

    fallback = TokenCounter(broken)
    asyncio.run(fallback.prepare(["abcd" * 10]))
    assert not fallback.exact and fallback.text("abcd" * 10) == 11
    # Without a tokenizer: the characters per token the server's usage showed.
    fallback.calibrate([Message("user", "x" * 300)], prompt_tokens=100)
    assert fallback.chars_per_token == 3.0 and fallback.text("x" * 300) == 101


class NoEnv:
    async def reset(self, request: EpisodeRequest, *, with_expert_plan: bool) -> object:
        raise AssertionError("not used")


DEFAULTS = EpisodeSettings(model="m", base_url="http://llm.internal/v1", max_tokens=128)


def llm_policies(allowed_base_urls: tuple[str, ...] = ()) -> LLMPolicies:
    return LLMPolicies(
        library=FewShotLibrary(NoEnv()),  # type: ignore[arg-type]  # NoEnv: an env never called
        retry=RetrySettings(),
        default_base_url=DEFAULTS.base_url,
        api_key="sk-k",
        allowed_base_urls=allowed_base_urls,
    )


def llm_request(**settings: object) -> EpisodeRequest:
    return EpisodeRequest(PolicyKind.LLM, settings=replace(DEFAULTS, **settings))  # type: ignore[arg-type]  # fields by name


def test_the_policy_takes_the_requests_settings() -> None:
    make = llm_policies()
    settings = make.settings_for(llm_request(temperature=0.5, prompt_mode=PromptMode.ADMISSIBLE))
    assert (settings.model, settings.base_url, settings.temperature) == ("m", "http://llm.internal/v1", 0.5)
    assert (settings.prompt_mode, settings.max_tokens) == (PromptMode.ADMISSIBLE, 128)
    own = make.settings_for(llm_request(model="x", base_url="http://llm.internal/v1/"))
    assert (own.model, own.base_url, own.grounding) == ("x", "http://llm.internal/v1/", "exact")
    assert own.stop == ("\n",)


def test_unknown_settings_are_refused_where_a_request_comes_in() -> None:
    defaults = EpisodeSettings()
    episode = agent_pb2.RunEpisodeRequest(
        policy=trajectory_pb2.LLM, settings=trajectory_pb2.AgentSettings(grounding="fuzzy")
    )
    with pytest.raises(errors.InvalidRequest, match="grounding 'fuzzy' is not one of"):
        request_from_proto(episode, defaults)
    evaluation = agent_pb2.RunEvaluationRequest(
        policy=trajectory_pb2.LLM, settings=trajectory_pb2.AgentSettings(prompt_mode="chatty")
    )
    with pytest.raises(errors.InvalidRequest, match="prompt_mode 'chatty' is not one of react, admissible"):
        evaluation_from_proto(evaluation, defaults)
    valid = evaluation_from_proto(
        agent_pb2.RunEvaluationRequest(
            policy=trajectory_pb2.LLM,
            settings=trajectory_pb2.AgentSettings(prompt_mode="admissible", max_steps=7),
        ),
        defaults,
    )
    episode_settings = valid.episode.settings
    assert (episode_settings.prompt_mode, episode_settings.grounding, episode_settings.max_steps) == (
        PromptMode.ADMISSIBLE,
        Grounding.EXACT,
        7,
    )
    assert valid.split == "generated_eval"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"model": ""}, "needs a model"),
        ({"base_url": ""}, "needs an endpoint"),
        ({"base_url": "ftp://x"}, "http://"),
    ],
)
def test_unusable_settings_are_invalid_requests(settings: dict[str, str], message: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        llm_policies()(llm_request(**settings))


@pytest.mark.parametrize(
    ("url", "allowed", "within"),
    [
        ("http://vllm:8000/v1", "http://vllm:8000/v1", True),
        ("http://vllm:8000/v1/", "http://vllm:8000/v1", True),
        ("http://VLLM:8000/v1/chat", "http://vllm:8000/v1/", True),
        ("http://vllm:8000/v10", "http://vllm:8000/v1", False),
        ("http://vllm:8001/v1", "http://vllm:8000/v1", False),
        ("https://vllm:8000/v1", "http://vllm:8000/v1", False),
        ("http://vllm:8000.evil.example/v1", "http://vllm:8000", False),
        ("http://user:pw@vllm:8000/v1", "http://vllm:8000", True),
        ("http://vllm/v1", "http://vllm:80", True),
        ("http://vllm:notaport/v1", "http://vllm", False),
    ],
)
def test_an_endpoint_is_within_an_allowed_one_by_scheme_host_port_and_path(
    url: str, allowed: str, within: bool
) -> None:
    assert endpoint_within(url, allowed) is within


def test_with_an_allowlist_a_request_may_name_only_those_endpoints_and_the_configured_one() -> None:
    make = llm_policies(allowed_base_urls=("http://vllm:8000/v1", "http://ollama:11434/"))
    for url in ("http://vllm:8000/v1", "http://ollama:11434/v1", "http://llm.internal/v1"):
        assert make.settings_for(llm_request(base_url=url)).base_url == url
    with pytest.raises(
        errors.PermissionDenied, match=r"http://attacker\.example/v1.*ALFAGENT_ALLOWED_BASE_URLS"
    ):
        make.settings_for(llm_request(base_url="http://attacker.example/v1"))


def test_the_allowlist_is_read_from_the_environment() -> None:
    config = AgentConfig.from_environ({"ALFAGENT_ALLOWED_BASE_URLS": " http://vllm:8000/v1 ,https://x/v1,"})
    assert config.allowed_base_urls == ("http://vllm:8000/v1", "https://x/v1")
    assert AgentConfig.from_environ({}).allowed_base_urls == ()
    with pytest.raises(ConfigError, match="ALFAGENT_ALLOWED_BASE_URLS"):
        AgentConfig.from_environ({"ALFAGENT_ALLOWED_BASE_URLS": "vllm:8000"})


def test_the_key_only_goes_to_the_configured_endpoint() -> None:
    rules = EndpointRules(default_base_url="http://llm.internal/v1", api_key="sk-k")
    assert rules.key_for("http://llm.internal/v1/") == "sk-k"
    assert rules.key_for("http://attacker.example/v1") == ""
    assert EndpointRules(default_base_url="", api_key="sk-k").key_for("https://api.openai.com/v1") == "sk-k"


def test_make_policy_factory_builds_the_llm_policy() -> None:
    config = AgentConfig(model="m", openai_base_url="http://llm.internal/v1", openai_api_key="sk-k")
    make = make_policy_factory(config, NoEnv())  # type: ignore[arg-type]  # NoEnv: an env never called
    assert isinstance(make(EpisodeRequest(PolicyKind.LLM, settings=config.episode_defaults())), LLMPolicy)
    no_model = AgentConfig(openai_base_url="http://x/v1")
    with pytest.raises(errors.InvalidRequest, match="model"):
        make_policy_factory(no_model, NoEnv())(  # type: ignore[arg-type]  # NoEnv: never called
            EpisodeRequest(PolicyKind.LLM, settings=no_model.episode_defaults())
        )
    with pytest.raises(errors.InvalidRequest, match="endpoint"):
        make_policy_factory(AgentConfig(), NoEnv())(  # type: ignore[arg-type]  # NoEnv: never called
            EpisodeRequest(PolicyKind.LLM, settings=EpisodeSettings(model="m"))
        )


def test_llm_settings_are_read_from_the_environment() -> None:
    config = AgentConfig.from_environ({})
    assert (config.llm_timeout_seconds, config.llm_connect_timeout_seconds) == (300.0, 10.0)
    assert (config.llm_concurrency, config.llm_stop, config.llm_max_tokens) == (0, ("\n",), 128)
    assert (config.max_repeated_actions, config.repeat_note_after) == (10, 0)
    config = AgentConfig.from_environ(
        {
            "ALFAGENT_LLM_STOP": '["\\n", "\\nOK"]',
            "ALFAGENT_LLM_CONCURRENCY": "3",
            "ALFAGENT_LLM_MAX_TOKENS": "-1",
            "ALFAGENT_MAX_REPEATED_ACTIONS": "-1",
            "ALFAGENT_LLM_CONNECT_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert config.llm_stop == ("\n", "\nOK") and config.llm_concurrency == 3
    # A negative value, as these variables once took for "none", is none: 0.
    assert (config.llm_max_tokens, config.max_repeated_actions) == (0, 0)
    assert config.llm_connect_timeout_seconds == 2.5
    assert AgentConfig.from_environ({"ALFAGENT_LLM_STOP": "[]"}).llm_stop == ()
    for bad in ("\\n", '["a", "b", "c", "d", "e"]', '[""]', '"x"'):
        with pytest.raises(ConfigError, match="ALFAGENT_LLM_STOP"):
            AgentConfig.from_environ({"ALFAGENT_LLM_STOP": bad})


def test_requests_get_the_agents_llm_defaults_and_exact_grounding() -> None:
    defaults = AgentConfig(model="m", openai_base_url="http://x/v1").episode_defaults()
    request = request_from_proto(agent_pb2.RunEpisodeRequest(policy=trajectory_pb2.LLM), defaults).settings
    assert (request.grounding, request.max_tokens, request.max_repeated_actions) == ("exact", 128, 10)
    chosen = agent_pb2.RunEpisodeRequest(
        policy=trajectory_pb2.LLM,
        settings=trajectory_pb2.AgentSettings(grounding="nearest", max_tokens=0, max_repeated_actions=0),
    )
    request = request_from_proto(chosen, defaults).settings
    assert (request.grounding, request.max_tokens, request.max_repeated_actions) == ("nearest", 0, 0)
    expert = request_from_proto(agent_pb2.RunEpisodeRequest(policy=trajectory_pb2.EXPERT), defaults).settings
    assert (expert.max_tokens, expert.max_repeated_actions, expert.model) == (0, 0, "")
