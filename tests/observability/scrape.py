"""Scraping a service's metrics as Prometheus does, read with the Prometheus client's own parser."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample, and the families by name (a counter's family drops `_total`)."""

    text: str

    @property
    def samples(self) -> list[Sample]:
        return [sample for family in text_string_to_metric_families(self.text) for sample in family.samples]

    @property
    def family_types(self) -> dict[str, str]:
        return {family.name: family.type for family in text_string_to_metric_families(self.text)}

    def value(self, name: str, **labels: str) -> float:
        """The value of the one sample `name` with exactly these labels; KeyError if none."""
        for sample in self.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
        raise KeyError(f"no sample {name}{labels} in the scrape")

    def label_values(self) -> set[str]:
        return {value for sample in self.samples for value in sample.labels.values()}


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> Scrape:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return Scrape(response.read().decode())


def read(registry: CollectorRegistry) -> Scrape:
    """What a scrape of `registry` would give, without a server."""
    return Scrape(generate_latest(registry).decode())
