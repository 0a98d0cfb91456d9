"""The agent's Prometheus metrics (served by `alfagent_common.metrics` on METRICS_PORT).

`AgentMetrics` is the runner's `EpisodeObserver` (episodes, steps, and what each decision cost:
tokens and LLM retries, counted as the trajectory counts them) and, while an episode plays, the
observer of its LLM requests (`llm/observed.py`: one observation per HTTP request, answered or
failed). The servicer marks evaluations in flight. Labels are bounded: policies and end reasons
are enums, retry causes a short fixed set (HTTP statuses that are retried, "timeout", ...), and
endpoints are named by host:port, at most `MAX_ENDPOINT_LABELS` of them ("other" beyond). No
label holds a run, trajectory or game id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agent_service.episode import Decision, EpisodeRecord, EpisodeRequest, StepRecord, Usage
from agent_service.llm import observed

# Distinct endpoints named in `alfagent_llm_request_seconds` (as many as the LLM clients kept by
# default, ALFAGENT_LLM_CLIENTS); requests to endpoints beyond them are labelled "other".
MAX_ENDPOINT_LABELS = 16
OTHER_ENDPOINT = "other"
TOKEN_KINDS = ("prompt", "cached", "completion")
# Steps of an episode: the default budget is 50 (ALFAGENT_MAX_STEPS); an expert plan takes 5-30.
STEP_COUNT_BUCKETS = (1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200)
# One completion: ~0.3-3 s on a warm prompt, ~45-60 s for a fresh few-shot prompt on 2 CPU cores,
# up to the read timeout (ALFAGENT_LLM_TIMEOUT_SECONDS, 300 s).
LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
# One step: the policy's decision (an LLM's seconds, an expert's microseconds) and the env's step.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def endpoint_label(base_url: str) -> str:
    """An endpoint's host:port (the scheme's port when the URL names none); no path, no key."""
    parts = urlsplit(base_url)
    host = parts.hostname or "unknown"
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "unknown"
    return f"{host}:{port}"


class AgentMetrics:
    """What the agent counts, in `registry` (one of its own per service; `CollectorRegistry()`
    when the metrics are not served)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.episodes = Counter(
            "alfagent_episodes",
            "Episodes ended, by policy and end reason",
            ["policy", "end_reason"],
            registry=self.registry,
        )
        self.episode_steps = Histogram(
            "alfagent_episode_steps",
            "Steps each ended episode played",
            ["policy"],
            buckets=STEP_COUNT_BUCKETS,
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "alfagent_step_seconds",
            "Steps played: the policy's decision and the env's step",
            ["policy"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.episodes_in_flight = Gauge(
            "alfagent_episodes_in_flight", "Episodes playing now", registry=self.registry
        )
        self.evaluations_in_flight = Gauge(
            "alfagent_evaluations_in_flight",
            "Evaluations (RunEvaluation) running now",
            registry=self.registry,
        )
        self.llm_request_seconds = Histogram(
            "alfagent_llm_request_seconds",
            "HTTP requests to a chat-completions endpoint (answered or failed; the wait for a "
            "server slot not included), by endpoint host:port",
            ["endpoint"],
            buckets=LLM_BUCKETS,
            registry=self.registry,
        )
        self.llm_retries = Counter(
            "alfagent_llm_retries",
            "LLM calls retried, by the cause of the attempt that was retried",
            ["reason"],
            registry=self.registry,
        )
        self.llm_tokens = Counter(
            "alfagent_llm_tokens",
            "Tokens the LLM endpoints reported: prompt (cached ones included), cached, completion",
            ["kind"],
            registry=self.registry,
        )
        for kind in TOKEN_KINDS:
            self.llm_tokens.labels(kind)
        self._endpoints: set[str] = set()

    # -- the runner's EpisodeObserver ----------------------------------------------------------

    @contextmanager
    def playing(self, request: EpisodeRequest) -> Iterator[None]:
        with self.episodes_in_flight.track_inprogress(), observed.observing(self):
            yield

    def decided(self, request: EpisodeRequest, decision: Decision) -> None:
        self._count_calls(decision.usage, decision.retry_causes)

    def stepped(self, request: EpisodeRequest, step: StepRecord) -> None:
        self.step_seconds.labels(request.policy.value).observe(step.latency_ms / 1000)

    def ended(self, record: EpisodeRecord) -> None:
        policy = record.request.policy.value
        self.episodes.labels(policy, record.end_reason.value).inc()
        self.episode_steps.labels(policy).observe(len(record.steps))
        # The call that failed for good: its retries and whatever usage it reported.
        self._count_calls(record.failed_call_usage, record.failed_call_retry_causes)

    def _count_calls(self, usage: Usage, retry_causes: tuple[str, ...]) -> None:
        for cause in retry_causes:
            self.llm_retries.labels(cause).inc()
        for kind, tokens in (
            ("prompt", usage.prompt_tokens),
            ("cached", usage.cached_prompt_tokens),
            ("completion", usage.completion_tokens),
        ):
            if tokens:
                self.llm_tokens.labels(kind).inc(tokens)

    # -- llm/observed.py's CallObserver --------------------------------------------------------

    def llm_request(self, base_url: str, seconds: float) -> None:
        self.llm_request_seconds.labels(self._endpoint(base_url)).observe(seconds)

    def _endpoint(self, base_url: str) -> str:
        label = endpoint_label(base_url)
        if label in self._endpoints:
            return label
        if len(self._endpoints) >= MAX_ENDPOINT_LABELS:
            return OTHER_ENDPOINT
        self._endpoints.add(label)
        return label

    # -- the servicer's --------------------------------------------------------------------------

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        with self.evaluations_in_flight.track_inprogress():
            yield
