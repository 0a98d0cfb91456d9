"""The LLM policy inside the real episode loop, against a real HTTP server speaking the OpenAI
protocol (tests/agent/fake_openai.py), with the env and store replaced by small in-memory versions.

Nothing of `openai` is mocked: the policy's `AsyncOpenAI` client talks HTTP to the fake server.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest

from agent_service.episode import (
    EndReason,
    EpisodeOutcome,
    EpisodeRecord,
    EpisodeRequest,
    PolicyKind,
)
from agent_service.llm.client import Timeouts
from agent_service.llm.fewshot import FewShotLibrary
from agent_service.llm.policy import LLMPolicies
from agent_service.llm.retries import RetrySettings
from agent_service.runner import EpisodeRunner
from agent_service.settings import EpisodeSettings
from agent_service.vocabulary import Grounding, PromptMode
from tests.agent.fake_openai import PROMPT_OVERHEAD, FakeOpenAI, Fault, prompt_tokens
from tests.agent.memory import OPENING, PLAN, MemoryEnv, MemoryStore

KEY = "sk-test-0123456789abcdef"
FAST_RETRIES = RetrySettings(
    max_attempts=4, max_wait_seconds=5.0, initial_backoff_seconds=0.01, max_backoff_seconds=0.05
)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def llm_request(server: FakeOpenAI, run_id: str = "r1", **overrides: object) -> EpisodeRequest:
    """An LLM episode against `server`; `overrides` are settings (the note from 3 identical answers
    unless one says otherwise)."""
    settings: dict[str, object] = {
        "model": "scripted",
        "base_url": server.base_url,
        "max_steps": 12,
        "grounding": Grounding.EXACT,
        "repeat_note_after": 3,
        **overrides,
    }
    return EpisodeRequest(PolicyKind.LLM, settings=EpisodeSettings(**settings), run_id=run_id)  # type: ignore[arg-type]  # mixed values by key


def policies(
    env: MemoryEnv,
    server: FakeOpenAI,
    *,
    retry: RetrySettings = FAST_RETRIES,
    timeout: float = 5.0,
    context_tokens: int = 6000,
    default_base_url: str = "",
    allowed_base_urls: tuple[str, ...] = (),
    concurrency: int = 0,
    stop: tuple[str, ...] = ("\n",),
) -> LLMPolicies:
    return LLMPolicies(
        library=FewShotLibrary(env),
        default_base_url=default_base_url or server.base_url,
        api_key=KEY,
        timeouts=Timeouts(read_seconds=timeout),
        retry=retry,
        context_tokens=context_tokens,
        allowed_base_urls=allowed_base_urls,
        concurrency=concurrency,
        stop=stop,
    )


def play(
    server: FakeOpenAI, request: EpisodeRequest, **policy_options: object
) -> tuple[EpisodeOutcome, EpisodeRecord, MemoryEnv]:
    env, store = MemoryEnv(), MemoryStore()

    async def main() -> EpisodeOutcome:
        make = policies(env, server, **policy_options)  # type: ignore[arg-type]  # options of mixed types by name
        try:
            return await EpisodeRunner(env, store, make).run(request)
        finally:
            await make.close()

    outcome = asyncio.run(main())
    return outcome, store.stored[outcome.trajectory_id], env


def test_scripted_episode_wins_and_every_step_keeps_raw_output_thought_action_and_usage(
    server: FakeOpenAI,
) -> None:
    server.script(
        "think: I need a pencil; it may be on the desk.",
        "go to desk 1",
        "take pencil 1 from desk 1",
        "think: Now I have it.\nthink: Next the shelf.",
        "go to shelf 1",
        "move pencil 1 to shelf 1",
    )
    outcome, record, env = play(server, llm_request(server, temperature=0.3, max_tokens=64, seed=7))
    assert outcome.won and outcome.end_reason is EndReason.WON and outcome.steps == 4
    assert env.steps == list(PLAN), "thoughts never reach the environment"
    first, second, third, _ = record.steps
    assert first.decision.thought == "I need a pencil; it may be on the desk."
    assert first.decision.raw_output == "go to desk 1" and first.decision.grounding == "exact"
    assert second.decision.thought == "" and second.decision.action == PLAN[1]
    # The server stopped at the end of the first line, as the agent asked.
    assert third.decision.thought == "Now I have it."
    # The usage of a turn is the sum over its calls (the thought's call and the action's).
    requests = server.requests
    assert len(requests) == 6
    for step in record.steps:
        assert step.decision.usage.prompt_tokens > 0 and step.decision.usage.completion_tokens > 0
        assert step.decision.retries == 0 and step.decision.llm_latency_ms > 0
    sizes = [len(prompt_tokens(r.messages)) for r in requests]
    assert first.decision.usage.prompt_tokens == sizes[0] + sizes[1]
    assert second.decision.usage.prompt_tokens == sizes[2]
    # The server's prompt cache: each prompt extends the one before, so all of that is reused.
    assert first.decision.usage.cached_prompt_tokens == server.cached[0] + server.cached[1] > 0
    # (All but the template's generation prompt, which ends each prompt and no later one.)
    assert server.cached[1:] == [size - PROMPT_OVERHEAD for size in sizes[:-1]]
    assert outcome.usage == record.usage and outcome.usage.total_tokens > 0
    # What was sent: the settings, the key, and the thought answered "OK." within the turn.
    body = requests[1].body
    assert body["model"] == "scripted" and body["temperature"] == 0.3
    assert body["max_tokens"] == 64 and body["seed"] == 7 and body["stop"] == ["\n"]
    assert all(r.authorization == f"Bearer {KEY}" for r in requests)
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "think: I need a pencil; it may be on the desk."
    assert messages[3]["content"] == "OK."
    assert messages[1]["content"] == OPENING


def test_few_shot_examples_come_from_expert_play_of_training_games_with_thoughts(server: FakeOpenAI) -> None:
    server.script(*PLAN)
    outcome, _, env = play(server, llm_request(server))
    assert outcome.won
    train = [r for r in env.resets if r.split == "generated_train"]
    assert [(r.policy, r.task_type, r.index) for r in train] == [
        (PolicyKind.EXPERT, "pick_and_place_simple", 0),
        (PolicyKind.EXPERT, "pick_and_place_simple", 1),
    ]
    assert len(env.closed) == 3, "example sessions and the episode are all closed"
    system = server.requests[0].body["messages"][0]["content"]
    assert "Example 1:" in system and "Example 2:" in system and "Example 3:" not in system
    opening = "> think: To solve the task, I need to find and take a pencil, then put it in/on the shelf."
    assert opening in system
    assert "> take pencil 1 from desk 1\nYou did it: take pencil 1 from desk 1." in system
    assert "> think: Now I have the pencil. Next, I need to put it in/on the shelf.\nOK." in system


def test_examples_are_built_once_for_concurrent_episodes_of_a_type(server: FakeOpenAI) -> None:
    env, store = MemoryEnv(), MemoryStore()
    server.default_reply = "look"

    async def main() -> list[EpisodeOutcome]:
        make = policies(env, server)
        runner = EpisodeRunner(env, store, make)
        try:
            return await asyncio.gather(
                *(runner.run(llm_request(server, run_id=f"r{i}", max_steps=2)) for i in range(6))
            )
        finally:
            await make.close()

    outcomes = asyncio.run(main())
    assert len(outcomes) == 6 and {o.end_reason for o in outcomes} == {EndReason.STEP_LIMIT}
    assert len([r for r in env.resets if r.split == "generated_train"]) == 2


def test_every_fault_is_retried_and_counted_then_the_episode_finishes(server: FakeOpenAI) -> None:
    server.script(
        Fault.rate_limit(retry_after=0.2),
        Fault.server_error(500),
        "go to desk 1",
        Fault.stall(seconds=2.0),
        Fault.drop(),
        "take pencil 1 from desk 1",
        Fault.not_json(),
        Fault.empty_choices(),
        Fault.server_error(503),
        "go to shelf 1",
        "move pencil 1 to shelf 1",
    )
    outcome, record, _ = play(server, llm_request(server), timeout=0.5)
    assert outcome.won and outcome.end_reason is EndReason.WON and outcome.steps == 4
    steps = record.steps
    assert steps[0].decision.retry_causes == ("429", "500") and steps[0].decision.retries == 2
    # Retry-After: 0.2 s was honoured (the back-off alone would be ~0.01 s).
    assert steps[0].decision.llm_latency_ms >= 200
    assert steps[1].decision.retry_causes == ("timeout", "connection")
    assert steps[2].decision.retry_causes == ("bad_response", "bad_response", "503")
    assert steps[3].decision.retries == 0
    assert record.retry_causes == {
        "429": 1,
        "500": 1,
        "timeout": 1,
        "connection": 1,
        "bad_response": 2,
        "503": 1,
    }


def test_unauthorized_ends_the_episode_at_once_and_the_key_is_never_recorded(
    server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.api_key = "sk-another-key-the-server-wants"
    outcome, record, env = play(server, llm_request(server))
    assert outcome.end_reason is EndReason.LLM_ERROR and outcome.steps == 0 and not outcome.won
    assert len(server.requests) == 1, "401 is not retried"
    assert "401" in outcome.error and "127.0.0.1" in outcome.error
    assert env.closed, "the session is closed and the trajectory stored"
    # The fake server quotes the key it was given, as OpenAI does: it must be masked everywhere.
    assert KEY in server.requests[0].authorization
    assert KEY not in outcome.error and KEY[-8:] not in outcome.error
    assert KEY not in repr(record) and KEY not in caplog.text


def test_the_key_is_not_sent_to_an_endpoint_the_request_names(server: FakeOpenAI) -> None:
    server.api_key = "no-key"
    # The endpoint is allowed (ALFAGENT_ALLOWED_BASE_URLS), but it is not the configured one.
    outcome, _, _ = play(
        server,
        llm_request(server, max_steps=1),
        default_base_url="http://llm.internal/v1",
        allowed_base_urls=(server.base_url,),
    )
    assert outcome.end_reason is EndReason.STEP_LIMIT
    assert [r.authorization for r in server.requests] == ["Bearer no-key"]


def test_bad_request_is_not_retried(server: FakeOpenAI) -> None:
    server.script(Fault("status", 404, message="model 'scripted' not found"))
    outcome, record, _ = play(server, llm_request(server))
    assert outcome.end_reason is EndReason.LLM_ERROR
    assert "404" in outcome.error and "not found" in outcome.error
    assert len(server.requests) == 1 and record.retry_causes == {}


def test_exhausted_retries_end_with_llm_error_and_count_the_causes(server: FakeOpenAI) -> None:
    server.script("go to desk 1", *[Fault.server_error(502)] * 4)
    outcome, record, _ = play(server, llm_request(server))
    assert outcome.end_reason is EndReason.LLM_ERROR and outcome.steps == 1
    assert "502" in outcome.error and "gave up after 4 attempts" in outcome.error
    assert record.retry_causes == {"502": 3}


def test_total_wait_is_capped_even_when_retry_after_asks_for_more(server: FakeOpenAI) -> None:
    server.script(Fault.rate_limit(retry_after=0.3), Fault.rate_limit(retry_after=0.3), "look")
    retry = replace(FAST_RETRIES, max_wait_seconds=0.4)
    outcome, record, _ = play(server, llm_request(server, max_steps=1), retry=retry)
    assert outcome.end_reason is EndReason.LLM_ERROR and "429" in outcome.error
    assert record.retry_causes == {"429": 1} and len(server.requests) == 2


def test_token_budget_ends_the_episode(server: FakeOpenAI) -> None:
    outcome, record, _ = play(server, llm_request(server, token_budget=1500))
    assert outcome.end_reason is EndReason.TOKEN_BUDGET
    used = record.usage.total_tokens
    assert used >= 1500 > used - record.steps[-1].decision.usage.total_tokens


def test_thoughts_per_turn_are_capped_and_the_last_reply_is_grounded(server: FakeOpenAI) -> None:
    server.script(*[f"think: step {i}" for i in range(4)], "go to desk 1")
    _, record, env = play(server, llm_request(server, max_steps=2, grounding=Grounding.NEAREST))
    first = record.steps[0].decision
    # The fourth thought is kept as a thought; with no command to send, "look" changes nothing.
    assert first.thought == "step 0\nstep 1\nstep 2\nstep 3"
    assert first.raw_output == "think: step 3" and (first.action, first.grounding) == ("look", "none")
    assert env.steps[0] == "look" and len(server.requests) == 5
    assert server.requests[-1].messages[-2]["content"] == "look", "the history shows what was sent"
    assert record.steps[1].decision.raw_output == "go to desk 1"


@pytest.mark.parametrize(
    ("grounding", "reply", "action", "label"),
    [
        ("exact", "> Go to desk 1.", "go to desk 1", "exact"),
        ("exact", "walk to the desk", "walk to the desk", "none"),
        ("normalised", "go to the desk", "go to desk 1", "normalised"),
        ("nearest", "walk to the desk", "go to desk 1", "nearest"),
    ],
)
def test_grounding_is_the_declared_setting(
    server: FakeOpenAI, grounding: str, reply: str, action: str, label: str
) -> None:
    server.script(reply)
    _, record, env = play(server, llm_request(server, max_steps=1, grounding=Grounding(grounding)))
    decision = record.steps[0].decision
    assert (decision.action, decision.grounding, decision.raw_output) == (action, label, reply)
    assert env.steps == [action]


def test_admissible_mode_lists_the_commands_on_the_latest_message_only(server: FakeOpenAI) -> None:
    server.script("go to desk 1", "think: hm", "look")
    play(server, llm_request(server, max_steps=2, prompt_mode=PromptMode.ADMISSIBLE))
    first, second, third = (r.messages for r in server.requests)
    assert first[-1]["content"].endswith("Commands you can use now:\nlook\ninventory\ngo to desk 1")
    assert "answer with one of them" in first[0]["content"]
    assert "Commands you can use now" not in second[1]["content"]
    assert second[-1]["content"].endswith("inventory\ntake pencil 1 from desk 1")
    assert third[-1]["content"].startswith("OK.\n\nCommands you can use now:")
    react = [r.messages for r in server.requests]
    assert all("Commands you can use" not in m["content"] for m in react[0][:-1])


@pytest.mark.parametrize("llama", [True, False], ids=["tokenize", "estimate"])
def test_long_episodes_drop_old_steps_in_chunks_within_the_budget_in_real_tokens(
    server: FakeOpenAI, llama: bool
) -> None:
    server.llama = llama
    server.responder = lambda body: f"examine desk {len(server.requests)}"
    # The system message and opening take ~780 tokens: ~500 are left for ~25 steps.
    outcome, record, _ = play(server, llm_request(server, max_steps=60), context_tokens=1300)
    assert outcome.end_reason is EndReason.STEP_LIMIT
    dropped = [s.decision.dropped_turns for s in record.steps]
    assert dropped[0] == 0 and dropped[-1] > 0 and dropped == sorted(dropped)
    assert record.dropped_turns == dropped[-1]
    last = server.requests[-1].messages
    assert f"[The first {dropped[-1]} step(s) of this game are left out to save space.]" in last[1]["content"]
    assert (len(last) - 2) // 2 + dropped[-1] == 59
    # The budget holds in the server's own tokens: exactly with /tokenize (but for a few tokens
    # of the glued-on note), else by characters per token learnt from the server's usage.
    sizes = [len(prompt_tokens(r.messages)) for r in server.requests]
    assert max(sizes) <= 1310, sizes
    # Asked once each where the server has no such thing; each distinct text tokenized once.
    asked = [r.split()[1] for r in server.other_requests]
    assert asked.count("/props") == 1
    assert asked.count("/tokenize") > 5 if llama else asked.count("/tokenize") == 1
    # Dropped in a few chunks; between them every prompt is served from the cache but its end.
    changes = sum(1 for a, b in itertools.pairwise(dropped) if a != b)
    assert 2 <= changes <= 5, dropped
    for index in range(1, len(sizes)):
        if dropped[index] == dropped[index - 1]:
            assert server.cached[index] == sizes[index - 1] - PROMPT_OVERHEAD


def test_no_training_game_to_learn_from_ends_with_env_error(server: FakeOpenAI) -> None:
    env, store = MemoryEnv(train_games=0), MemoryStore()

    async def main() -> EpisodeOutcome:
        make = policies(env, server)
        try:
            return await EpisodeRunner(env, store, make).run(llm_request(server))
        finally:
            await make.close()

    outcome = asyncio.run(main())
    assert outcome.end_reason is EndReason.ENV_ERROR and "few-shot" in outcome.error
    assert server.requests == [] and outcome.trajectory_id in store.stored


def test_cancelling_an_episode_waiting_for_the_llm_stores_it_as_cancelled(server: FakeOpenAI) -> None:
    server.script("go to desk 1", Fault.stall(seconds=5))
    env, store = MemoryEnv(), MemoryStore()

    async def main() -> None:
        make = policies(env, server, timeout=10)
        task = asyncio.create_task(EpisodeRunner(env, store, make).run(llm_request(server)))
        while len(server.requests) < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await make.close()

    asyncio.run(main())
    (record,) = store.stored.values()
    assert record.end_reason is EndReason.CANCELLED and len(record.steps) == 1


def test_generation_stops_at_the_end_of_the_line_and_invented_continuations_are_never_seen(
    server: FakeOpenAI,
) -> None:
    # What Qwen2.5-Coder-1.5B wrote without a stop: a whole imagined continuation.
    server.script(
        "go to desk 1\nYou arrive at desk 1. On the desk 1, you see a pencil 1.\n> take pencil 1 from desk 1",
        "think: I see the pencil.\nOK.\n> take pencil 1 from desk 1\nYou pick up the pencil 1.",
        "take pencil 1 from desk 1",
    )
    _, record, env = play(server, llm_request(server, max_steps=2))
    assert all(r.body["stop"] == ["\n"] for r in server.requests)
    first, second = record.steps
    assert (first.decision.raw_output, first.decision.action) == ("go to desk 1", "go to desk 1")
    assert second.decision.thought == "I see the pencil." and second.decision.action == PLAN[1]
    assert env.steps == list(PLAN[:2])
    # The model sees only what the game answered, never its own inventions.
    assert "You pick up" not in str(server.requests[-1].messages)


def test_a_reply_with_nothing_before_the_first_line_break_is_asked_again_without_stop(
    server: FakeOpenAI,
) -> None:
    server.script("```\ngo to desk 1\n```", "```\ngo to desk 1\n```")
    _, record, env = play(server, llm_request(server, max_steps=1, max_tokens=100))
    first, second = server.requests
    assert first.body["stop"] == ["\n"] and "stop" not in second.body
    # Not cut at the line's end, so kept short: a fence, a command, a fence.
    assert first.body["max_tokens"] == 100 and second.body["max_tokens"] == 64
    decision = record.steps[0].decision
    assert decision.action == "go to desk 1" and decision.grounding == "exact"
    assert decision.raw_output == "```\ngo to desk 1\n```" and env.steps == ["go to desk 1"]
    assert decision.usage.prompt_tokens == sum(len(prompt_tokens(r.messages)) for r in server.requests)


def test_without_a_stop_a_thought_and_a_command_in_one_reply_are_read_as_a_person_would(
    server: FakeOpenAI,
) -> None:
    server.script("think: The pencil is on the desk.\n> Go to desk 1.\nYou arrive at desk 1.")
    _, record, env = play(server, llm_request(server, max_steps=1), stop=())
    assert "stop" not in server.requests[0].body and len(server.requests) == 1
    decision = record.steps[0].decision
    assert decision.thought == "The pencil is on the desk." and decision.action == "go to desk 1"
    assert decision.raw_output.startswith("think: The pencil") and env.steps == ["go to desk 1"]


def test_calls_beyond_the_servers_slots_wait_in_the_agent_not_in_the_servers_queue(
    server: FakeOpenAI,
) -> None:
    # One slot, 0.3 s per completion, a 0.5 s read timeout, four episodes at once: in the
    # server's queue the third and fourth would time out although the model is fine.
    server.llama, server.slots, server.delay_seconds = True, 1, 0.3
    records = play_together(server, 4, timeout=0.5)
    assert server.max_in_flight == 1
    assert all(r.retry_causes == {} and r.end_reason is EndReason.STEP_LIMIT for r in records)
    assert any(s.decision.llm_latency_ms > 600 for r in records for s in r.steps), "some waited"
    assert [r.split()[1] for r in server.other_requests].count("/props") == 1


def test_without_the_agents_queue_the_same_load_times_out(server: FakeOpenAI) -> None:
    # The contrast that makes the test above meaningful: no limit (a configured -1), same load.
    server.llama, server.slots, server.delay_seconds = True, 1, 0.3
    records = play_together(server, 4, timeout=0.5, concurrency=-1)
    assert sum(r.retry_causes.get("timeout", 0) for r in records) > 0


def test_a_configured_concurrency_wins_over_the_servers_slots(server: FakeOpenAI) -> None:
    server.llama, server.slots, server.delay_seconds = True, 4, 0.2
    play_together(server, 4, timeout=5, concurrency=2)
    assert server.max_in_flight == 2
    assert "GET /props" in server.other_requests, "still asked, for the context size"


def play_together(server: FakeOpenAI, episodes: int, **policy_options: object) -> list[EpisodeRecord]:
    env, store = MemoryEnv(), MemoryStore()
    retry = RetrySettings(max_attempts=2, max_wait_seconds=1, initial_backoff_seconds=0.01)

    async def main() -> None:
        make = policies(env, server, retry=retry, **policy_options)  # type: ignore[arg-type]  # mixed types by name
        runner = EpisodeRunner(env, store, make)
        try:
            await asyncio.gather(
                *(runner.run(llm_request(server, run_id=f"r{i}", max_steps=2)) for i in range(episodes))
            )
        finally:
            await make.close()

    asyncio.run(main())
    return list(store.stored.values())


def test_a_prompt_the_server_finds_too_long_is_cut_to_the_size_it_names(server: FakeOpenAI) -> None:
    # The server claims a large context but has a small one; the agent learns it from the 400.
    server.llama, server.slot_context, server.props_context = True, 1100, 100_000
    server.responder = lambda body: f"examine desk {len(server.requests) % 5}"
    outcome, record, _ = play(server, llm_request(server, max_steps=30))
    assert outcome.end_reason is EndReason.STEP_LIMIT and outcome.steps == 30
    assert record.retry_causes == {"context": 1}
    assert record.dropped_turns > 0


def test_cached_prompt_tokens_are_recorded_from_llama_servers_timings(server: FakeOpenAI) -> None:
    server.llama, server.usage_details = True, False
    server.script(*PLAN)
    outcome, record, _ = play(server, llm_request(server))
    assert outcome.won
    cached = [s.decision.usage.cached_prompt_tokens for s in record.steps]
    assert cached == server.cached and cached[0] == 0 and all(c > 0 for c in cached[1:])
    assert record.usage.cached_prompt_tokens == sum(server.cached)


def test_a_command_repeated_three_times_gets_a_note_and_the_limit_ends_the_episode(
    server: FakeOpenAI,
) -> None:
    server.default_reply = "look"
    outcome, record, _ = play(server, llm_request(server, max_steps=20, max_repeated_actions=10))
    assert outcome.end_reason is EndReason.REPEATED_ACTION and outcome.steps == 10
    observations = [m["content"] for m in server.requests[-1].messages if m["role"] == "user"][1:]
    noted = ["same answer" in o for o in observations]
    assert noted == [False, False] + [True] * 7
    assert "sent this command 9 times in this game" in observations[-1]
    assert all(s.observation == "Nothing happens." for s in record.steps), "the env's answer is kept"


def test_going_round_in_circles_gets_the_note_too(server: FakeOpenAI) -> None:
    # Not the same command twice in a row, yet nothing changes: as Qwen 1.5B went drawer 3, desk 1,
    # drawer 2, drawer 1, drawer 3, ... for 30 steps.
    server.responder = lambda body: ("look", "inventory")[len(server.requests) % 2]
    outcome, _, _ = play(server, llm_request(server, max_steps=8, max_repeated_actions=3))
    assert outcome.end_reason is EndReason.STEP_LIMIT
    observations = [m["content"] for m in server.requests[-1].messages if m["role"] == "user"][1:]
    assert ["same answer" in o for o in observations] == [False] * 4 + [True] * 3


def test_the_note_can_be_turned_off(server: FakeOpenAI) -> None:
    server.default_reply = "look"
    play(server, llm_request(server, max_steps=6, repeat_note_after=0))
    assert "same answer" not in str(server.requests[-1].messages)


def test_a_request_sets_the_note_for_its_episode(server: FakeOpenAI) -> None:
    server.default_reply = "look"
    play(server, llm_request(server, max_steps=6, repeat_note_after=0))
    assert "same answer" not in str(server.requests[-1].messages), "0: no note"
    server.requests.clear()
    play(server, llm_request(server, max_steps=6, repeat_note_after=5))
    observations = [m["content"] for m in server.requests[-1].messages if m["role"] == "user"][1:]
    assert ["same answer" in o for o in observations] == [False] * 4 + [True]
