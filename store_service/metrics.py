"""The store's Prometheus metrics (served by `alfagent_common.metrics` on METRICS_PORT).

Appends are counted and timed by the servicer; the recovery's duration is set once the log is
open; the bytes on disk, the trajectories held and the log's own counters (fsyncs, writer restarts)
are read when Prometheus scrapes, so `TrajectoryLog` knows nothing of Prometheus. No label holds a
trajectory or run id.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from store_service.log import TrajectoryLog

# What an append came to: stored, already stored (an idempotent retry, or another agent's copy),
# refused for itself (too big, bad ids: INVALID_ARGUMENT), or failed for the store's own reasons
# (UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL: the caller may retry).
APPEND_RESULTS = ("stored", "duplicate", "refused", "failed")
# A durable append is one group commit (a write and an fsync) away: ~1-10 ms on a quiet disk.
APPEND_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class StoreMetrics:
    """What the store counts, in `registry` (one of its own per service; `CollectorRegistry()`
    when the metrics are not served, as in tests that build the servicer themselves)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.appends = Counter(
            "alfagent_store_appends",
            "AppendTrajectory calls by what they came to",
            ["result"],
            registry=self.registry,
        )
        for result in APPEND_RESULTS:
            self.appends.labels(result)
        self.append_seconds = Histogram(
            "alfagent_store_append_seconds",
            "AppendTrajectory calls, from the request to the answer (durable when stored)",
            buckets=APPEND_BUCKETS,
            registry=self.registry,
        )
        self.recovery_seconds = Gauge(
            "alfagent_store_recovery_seconds",
            "How long the start-up's recovery took: every segment scanned, repaired and indexed",
            registry=self.registry,
        )

    def appended(self, result: str, seconds: float) -> None:
        self.appends.labels(result).inc()
        self.append_seconds.observe(seconds)

    def watch(self, log: TrajectoryLog) -> None:
        """Report `log`'s size on disk, trajectories and counters at each scrape."""
        self.registry.register(_LogState(log))


def disk_bytes(directory: Path) -> int:
    """Bytes of the files in the store directory: segments of trajectories and of skill libraries,
    damaged bytes kept aside (`*.corrupt`), the lock. Nothing is in folders below it."""
    total = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:  # removed since the listing (a temporary file)
                    continue
    except FileNotFoundError:
        return 0
    return total


class _LogState(Collector):
    def __init__(self, log: TrajectoryLog) -> None:
        self._log = log

    def collect(self) -> Iterator[Metric]:
        log = self._log
        yield GaugeMetricFamily(
            "alfagent_store_disk_bytes",
            "Bytes of the files in STORE_DIR (measured at each scrape)",
            value=disk_bytes(log.directory),
        )
        yield GaugeMetricFamily("alfagent_store_trajectories", "Trajectories stored", value=len(log.index))
        yield CounterMetricFamily(
            "alfagent_store_fsyncs",
            "fsyncs of the segment the writer appends to (one per group commit)",
            value=log.fsyncs,
        )
        yield CounterMetricFamily(
            "alfagent_store_writer_restarts",
            "Writer processes restarted after they died",
            value=log.writer_restarts,
        )
