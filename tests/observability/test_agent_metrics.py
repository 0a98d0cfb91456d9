"""agent_service/metrics.py: what the runner and the LLM client report, in an episode played by the
real loop against a real HTTP server speaking the OpenAI protocol (tests/agent/fake_openai.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agent_service.episode import EndReason, EpisodeRecord, EpisodeRequest, StepRecord
from agent_service.llm import observed
from agent_service.metrics import MAX_ENDPOINT_LABELS, AgentMetrics, endpoint_label
from agent_service.runner import EpisodeRunner
from tests.agent.fake_openai import FakeOpenAI, Fault
from tests.agent.memory import PLAN, MemoryEnv, MemoryStore
from tests.agent.test_llm_policy import KEY, llm_request, policies
from tests.observability.scrape import Scrape, read


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def play(
    server: FakeOpenAI, metrics: AgentMetrics, request: EpisodeRequest
) -> tuple[EpisodeRecord, list[float]]:
    """One LLM episode observed by `metrics`; the record and the episodes in flight at each step."""
    env, store = MemoryEnv(), MemoryStore()
    in_flight: list[float] = []

    async def listen(record: EpisodeRecord, step: StepRecord | None) -> None:
        in_flight.append(read(metrics.registry).value("alfagent_episodes_in_flight"))

    async def main() -> EpisodeRecord:
        make = policies(env, server)
        try:
            outcome = await EpisodeRunner(env, store, make, metrics).run(request, listen)
        finally:
            await make.close()
        return store.stored[outcome.trajectory_id]

    return asyncio.run(main()), in_flight


def tokens(scraped: Scrape) -> dict[str, float]:
    return {
        kind: scraped.value("alfagent_llm_tokens_total", kind=kind)
        for kind in ("prompt", "cached", "completion")
    }


def test_an_llm_episode_counts_requests_retries_tokens_steps_and_the_episode(server: FakeOpenAI) -> None:
    server.script("think: the pencil is on the desk.", PLAN[0], Fault.rate_limit(0.01), *PLAN[1:])
    metrics = AgentMetrics()
    record, in_flight = play(server, metrics, llm_request(server))
    assert record.end_reason is EndReason.WON and len(record.steps) == 4
    scraped = read(metrics.registry)
    assert scraped.value("alfagent_episodes_total", policy="LLM", end_reason="WON") == 1
    assert scraped.value("alfagent_episode_steps_count", policy="LLM") == 1
    assert scraped.value("alfagent_episode_steps_sum", policy="LLM") == 4
    assert scraped.value("alfagent_step_seconds_count", policy="LLM") == 4
    # Every HTTP request, the one answered 429 included, under the endpoint's host:port.
    endpoint = endpoint_label(server.base_url)
    assert endpoint.startswith("127.0.0.1:") and not endpoint.endswith(":80")
    assert scraped.value("alfagent_llm_request_seconds_count", endpoint=endpoint) == len(server.requests) == 6
    assert scraped.value("alfagent_llm_retries_total", reason="429") == 1
    # The tokens the trajectory counts.
    usage = record.usage
    assert tokens(scraped) == {
        "prompt": usage.prompt_tokens,
        "cached": usage.cached_prompt_tokens,
        "completion": usage.completion_tokens,
    }
    assert usage.prompt_tokens > 0 and usage.cached_prompt_tokens > 0
    assert in_flight == [1, 1, 1, 1, 1]  # at the start and after each step
    assert scraped.value("alfagent_episodes_in_flight") == 0


def test_an_endpoint_that_fails_for_good_counts_its_retries_and_the_llm_error(server: FakeOpenAI) -> None:
    server.script(*[Fault.server_error(503)] * 4)  # FAST_RETRIES: 4 attempts
    metrics = AgentMetrics()
    record, _ = play(server, metrics, llm_request(server))
    assert record.end_reason is EndReason.LLM_ERROR and record.steps == []
    scraped = read(metrics.registry)
    assert scraped.value("alfagent_episodes_total", policy="LLM", end_reason="LLM_ERROR") == 1
    assert scraped.value("alfagent_episode_steps_sum", policy="LLM") == 0
    assert scraped.value("alfagent_llm_retries_total", reason="503") == 3
    endpoint = endpoint_label(server.base_url)
    assert scraped.value("alfagent_llm_request_seconds_count", endpoint=endpoint) == len(server.requests) == 4
    assert tokens(scraped) == {"prompt": 0, "cached": 0, "completion": 0}


def test_requests_outside_an_episode_are_reported_to_no_one() -> None:
    metrics = AgentMetrics()
    observed.report("http://127.0.0.1:8080/v1", 1.0)
    with observed.observing(metrics):
        observed.report("http://127.0.0.1:8080/v1", 2.0)
    observed.report("http://127.0.0.1:8080/v1", 4.0)
    scraped = read(metrics.registry)
    assert scraped.value("alfagent_llm_request_seconds_count", endpoint="127.0.0.1:8080") == 1
    assert scraped.value("alfagent_llm_request_seconds_sum", endpoint="127.0.0.1:8080") == 2.0


@pytest.mark.parametrize(
    ("base_url", "label"),
    [
        ("http://127.0.0.1:8080/v1", "127.0.0.1:8080"),
        ("https://api.openai.com/v1", "api.openai.com:443"),
        ("http://vllm/v1/", "vllm:80"),
        ("http://[::1]:8000/v1", "[::1]:8000"),
        # Never a path, a query or credentials.
        ("https://user:sk-secret@llm.example:8443/tenant/42/v1?key=sk-x", "llm.example:8443"),
    ],
)
def test_an_endpoint_is_labelled_by_host_and_port_only(base_url: str, label: str) -> None:
    assert endpoint_label(base_url) == label


def test_endpoint_labels_are_bounded() -> None:
    metrics = AgentMetrics()
    for number in range(MAX_ENDPOINT_LABELS + 4):
        metrics.llm_request(f"http://llm-{number}:8000/v1", 0.5)
    metrics.llm_request("http://llm-0:8000/v1", 0.5)
    endpoints = {
        sample.labels["endpoint"]
        for sample in read(metrics.registry).samples
        if sample.name == "alfagent_llm_request_seconds_count"
    }
    assert len(endpoints) == MAX_ENDPOINT_LABELS + 1 and "other" in endpoints
    scraped = read(metrics.registry)
    assert scraped.value("alfagent_llm_request_seconds_count", endpoint="other") == 4
    assert scraped.value("alfagent_llm_request_seconds_count", endpoint="llm-0:8000") == 2


def test_evaluations_in_flight() -> None:
    metrics = AgentMetrics()
    with metrics.evaluating(), metrics.evaluating():
        assert read(metrics.registry).value("alfagent_evaluations_in_flight") == 2
    assert read(metrics.registry).value("alfagent_evaluations_in_flight") == 0
