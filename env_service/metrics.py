"""The env service's Prometheus metrics (served by `alfagent_common.metrics` on METRICS_PORT).

Resets and steps are timed by the servicer; live sessions, worker restarts and the translation
cache's hits and misses are read from the core and the pool when Prometheus scrapes, so neither
`EnvCore` nor the pool knows about Prometheus. No label holds a session or game id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from env_service.sessions import EnvCore

# A step is ~5-50 ms in a worker; a replan after a deviation may take up to ENV_REPLAN_SECONDS.
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A reset of a game a worker has translated takes ~50 ms, of one never met ~1 s, plus the plan.
RESET_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# (hits, misses) of the translation cache so far.
TranslationCounts = Callable[[], tuple[int, int]]


class EnvMetrics:
    """What the env counts, in `registry` (one of its own per service; `CollectorRegistry()` when
    the metrics are not served, as in tests that build the servicer themselves)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.step_seconds = Histogram(
            "alfagent_env_step_seconds",
            "Steps played, from the request to the observation (steps that failed are not counted)",
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.reset_seconds = Histogram(
            "alfagent_env_reset_seconds",
            "Sessions opened (Reset), from the request to the first observation",
            buckets=RESET_BUCKETS,
            registry=self.registry,
        )
        self.sessions_refused = Counter(
            "alfagent_env_sessions_refused",
            "Resets refused because ENV_MAX_SESSIONS sessions were open",
            registry=self.registry,
        )

    def watch(self, core: EnvCore, translation_counts: TranslationCounts | None = None) -> None:
        """Report `core`'s live sessions and its pool's restarts (and translation counts) at each scrape."""
        self.registry.register(_EnvState(core, translation_counts))


class _EnvState(Collector):
    def __init__(self, core: EnvCore, translation_counts: TranslationCounts | None) -> None:
        self._core = core
        self._translation_counts = translation_counts

    def collect(self) -> Iterator[Metric]:
        core = self._core
        yield GaugeMetricFamily("alfagent_env_live_sessions", "Sessions open now", value=core.live_sessions)
        yield GaugeMetricFamily(
            "alfagent_env_max_sessions",
            "Sessions this replica holds at most (ENV_MAX_SESSIONS)",
            value=core.max_sessions,
        )
        yield CounterMetricFamily(
            "alfagent_env_worker_restarts",
            "Worker processes replaced after they died",
            value=core.pool.restarts,
        )
        hits, misses = self._translation_counts() if self._translation_counts else (0, 0)
        yield CounterMetricFamily(
            "alfagent_env_translation_cache_hits",
            "PDDL-to-SAS translations read from the translation cache (ENV_TRANSLATION_CACHE)",
            value=hits,
        )
        yield CounterMetricFamily(
            "alfagent_env_translation_cache_misses",
            "PDDL-to-SAS translations looked up in the translation cache and not found there",
            value=misses,
        )
