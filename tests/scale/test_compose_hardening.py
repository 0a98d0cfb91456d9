"""docker-compose.yml as a shared host needs it: published ports on 127.0.0.1 unless a variable says
otherwise, every capability dropped, no-new-privileges, memory and process limits, read-only roots,
and for now the services' open mode said out loud (HOST=[::], ALFAGENT_INSECURE=1).

Checked on the file, and where podman-compose or docker-compose is installed, on what each makes of
it (`config`): the `${AGENT_PUBLISH:-127.0.0.1:50051}` defaults must expand to a loopback address.
The running containers are checked in tests/containers/test_compose_hardening.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["env", "store", "agent", "llm"]
GRPC_SERVICES = ["env", "store", "agent"]
# What tools/containers/podman-setup.sh installs.
PODMAN_COMPOSE = Path("/opt/podman-compose/bin/podman-compose")
PUBLISHED = re.compile(r"^\$\{(?P<variable>[A-Z]+_PUBLISH):-(?P<default>[^}]*)\}:(?P<port>\d+)$")


def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return loaded


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_drops_every_capability_and_cannot_gain_privileges(name: str) -> None:
    service = services()[name]
    assert service["cap_drop"] == ["ALL"]
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_generous_memory_and_process_limits(name: str) -> None:
    service = services()[name]
    memory = re.fullmatch(r"(\d+)([mg])", service["mem_limit"])
    assert memory, service["mem_limit"]
    megabytes = int(memory.group(1)) * (1024 if memory.group(2) == "g" else 1)
    assert megabytes >= 1024
    # pids counts threads: llama-server's and numpy's thread pools, the env's worker processes.
    assert isinstance(service["pids_limit"], int) and service["pids_limit"] >= 1024


@pytest.mark.parametrize("name", SERVICES)
def test_published_ports_bind_loopback_unless_a_variable_says_otherwise(name: str) -> None:
    [mapping] = services()[name]["ports"]
    match = PUBLISHED.match(mapping)
    assert match, mapping
    assert match.group("variable") == f"{name.upper()}_PUBLISH"
    assert match.group("default").startswith("127.0.0.1:"), mapping


@pytest.mark.parametrize("name", GRPC_SERVICES)
def test_the_grpc_services_bind_every_interface_in_the_open_mode_for_now(name: str) -> None:
    environment = services()[name]["environment"]
    assert environment["HOST"] == "[::]"
    # Until a one-shot step makes TLS certificates and tokens for the stack (see the file's header).
    assert environment["ALFAGENT_INSECURE"] == "1"
    assert not {"ALFAGENT_TLS_CERT", "ALFAGENT_TOKENS"} & set(environment)


def test_the_model_takes_an_api_key_and_keeps_its_metrics_to_itself() -> None:
    environment = services()["llm"]["environment"]
    assert environment["LLM_API_KEY"] == "${LLM_API_KEY:-}"
    assert "LLM_METRICS" not in environment


def compose_tools() -> list[list[str]]:
    tools = []
    podman_compose = shutil.which("podman-compose") or (
        str(PODMAN_COMPOSE) if PODMAN_COMPOSE.exists() else None
    )
    if podman_compose:
        tools.append([podman_compose])
    if docker_compose := shutil.which("docker-compose"):
        tools.append([docker_compose])
    return tools


def published_addresses(tool: list[str], environ: dict[str, str]) -> dict[str, list[str]]:
    """{service: ["host_ip:published:target", …]} as the tool resolves docker-compose.yml."""
    scrubbed = {k: v for k, v in os.environ.items() if not k.endswith("_PUBLISH")}
    result = subprocess.run(
        [*tool, "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        env={**scrubbed, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, list[str]] = {}
    for name, service in yaml.safe_load(result.stdout)["services"].items():
        for port in service.get("ports", []):
            if isinstance(port, dict):  # docker-compose's long form
                port = f"{port.get('host_ip', '')}:{port.get('published', '')}:{port['target']}"
            found.setdefault(name, []).append(str(port).removesuffix("/tcp"))
    return found


@pytest.mark.skipif(not compose_tools(), reason="neither podman-compose nor docker-compose is installed")
@pytest.mark.parametrize("tool", compose_tools(), ids=lambda tool: Path(tool[0]).name)
def test_the_compose_tools_expand_the_defaults_to_loopback(tool: list[str]) -> None:
    found = published_addresses(tool, {})
    assert found == {
        "agent": ["127.0.0.1:50051:50051"],
        "env": ["127.0.0.1::50052"],
        "store": ["127.0.0.1:50053:50053"],
        "llm": ["127.0.0.1:8080:8080"],
    }
    opened = published_addresses(tool, {"AGENT_PUBLISH": "0.0.0.0:50051"})
    assert opened["agent"] == ["0.0.0.0:50051:50051"]
