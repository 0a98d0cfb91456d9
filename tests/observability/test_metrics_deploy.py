"""Where the metrics ports are in deploy/ and docker-compose.yml: each service's METRICS_PORT, a
named container port, and the pod annotations Prometheus' `kubernetes-pods` job scrapes by."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

from agent_service.config import AgentConfig
from env_service.config import EnvConfig
from store_service.config import StoreConfig
from tests.scale.kustomize import render
from tests.scale.test_deploy import by_kind, container, env_of

ROOT = Path(__file__).resolve().parents[2]
# service: (its workload's kind, its default metrics port)
SERVICES = {
    "agent": ("Deployment", AgentConfig.metrics_port),
    "env": ("Deployment", EnvConfig.metrics_port),
    "store": ("StatefulSet", StoreConfig.metrics_port),
}


def test_the_default_metrics_ports() -> None:
    assert [port for _, port in SERVICES.values()] == [9451, 9452, 9453]


@pytest.mark.parametrize("overlay", ["base", "overlays/dev", "overlays/with-llm"])
@pytest.mark.parametrize("name", SERVICES)
def test_every_pod_says_where_prometheus_scrapes_it(overlay: str, name: str) -> None:
    kind, port = SERVICES[name]
    workload = by_kind(render(ROOT / "deploy" / overlay), kind, name)
    annotations = workload["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    assert env_of(workload)["METRICS_PORT"] == str(port)
    ports = {item["name"]: item["containerPort"] for item in container(workload)["ports"]}
    assert ports["metrics"] == port


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return services


@pytest.mark.parametrize("name", SERVICES)
def test_compose_exposes_the_metrics_port_on_its_network_only(name: str) -> None:
    _, port = SERVICES[name]
    service = compose_services()[name]
    assert service["environment"]["METRICS_PORT"] == str(port)
    assert service["expose"] == [str(port)]
    assert not any(str(port) in mapping for mapping in service["ports"])
