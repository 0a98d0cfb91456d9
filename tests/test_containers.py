"""The container files, checked statically (no Docker engine runs here) against the code.

docker-compose.yml must validate, each Dockerfile must pass hadolint, and the commands, ports,
variables and healthchecks they name must be the ones the services really use.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from agent_service.config import AgentConfig
from env_service.config import EnvConfig
from store_service.config import StoreConfig
from tests.conftest import Services

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {
    "agent": ("agent_service", AgentConfig.port),
    "env": ("env_service", EnvConfig.port),
    "store": ("store_service", StoreConfig.port),
}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def dockerfile(module: str) -> str:
    return (ROOT / module / "Dockerfile").read_text()


def test_binding_ports_are_the_config_defaults() -> None:
    assert (AgentConfig.port, EnvConfig.port, StoreConfig.port) == (50051, 50052, 50053)


def test_compose_file_validates() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing; .ci/run installs it")
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    for files in (["docker-compose.yml"], ["docker-compose.yml", "docker-compose.alfworld-data.yml"]):
        args = [arg for name in files for arg in ("-f", name)]
        env = {**os.environ, "ALFWORLD_DATA_HOST": "/tmp"}
        result = subprocess.run(
            [tool, *args, "config", "-q"], cwd=ROOT, capture_output=True, text=True, env=env, check=False
        )
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_matches_the_code(name: str) -> None:
    module, port = SERVICES[name]
    service = compose()["services"][name]
    assert service["command"] == ["python", "-m", module]
    assert service["build"]["dockerfile"] == f"{module}/Dockerfile"
    assert service["environment"]["PORT"] == str(port)
    assert f"{port}:{port}" in service["ports"]
    assert service["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "alfagent_common.healthcheck",
        f"localhost:{port}",
    ]


def test_compose_wires_the_agent_to_env_and_store_and_keeps_the_store_on_a_volume() -> None:
    services = compose()["services"]
    agent_env = services["agent"]["environment"]
    assert agent_env["ENV_ADDR"] == f"env:{EnvConfig.port}"
    assert agent_env["STORE_ADDR"] == f"store:{StoreConfig.port}"
    assert {"OPENAI_BASE_URL", "OPENAI_API_KEY"} <= set(agent_env)
    assert services["agent"]["depends_on"] == {
        "env": {"condition": "service_healthy"},
        "store": {"condition": "service_healthy"},
    }
    store_dir = services["store"]["environment"]["STORE_DIR"]
    assert f"trajectories:{store_dir}" in services["store"]["volumes"]
    assert "trajectories" in compose()["volumes"]
    overlay = yaml.safe_load((ROOT / "docker-compose.alfworld-data.yml").read_text())
    assert overlay["services"]["env"]["environment"]["ALFWORLD_DATA"] == "/alfworld-data"


@pytest.mark.parametrize("module", [module for module, _ in SERVICES.values()])
def test_dockerfile_passes_hadolint(module: str) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(ROOT / module / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_matches_the_code(name: str) -> None:
    module, port = SERVICES[name]
    text = dockerfile(module)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim", text, re.M), "pinned python:3.11 slim base"
    assert f'CMD ["python", "-m", "{module}"]' in text
    assert f"EXPOSE {port}" in text
    assert f"PORT={port}" in text
    assert re.search(r"^USER \d+$", text, re.M), "runs as a non-root user"
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    for group in re.findall(r"--group (\S+)", text):
        assert group in groups
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"{module}/Dockerfile copies {path}, which does not exist"
    # The image generates exactly the protos the repository has.
    protos = {str(p.relative_to(ROOT)) for p in (ROOT / "proto").rglob("*.proto")}
    assert protos == set(re.findall(r"proto/alfagent/\S+\.proto", text))


def test_store_image_writes_to_its_volume() -> None:
    text = dockerfile("store_service")
    assert "STORE_DIR=/data" in text and "VOLUME /data" in text


@pytest.mark.parametrize("name", SERVICES)
def test_container_healthcheck_command_reports_a_live_service(services: Services, name: str) -> None:
    address = getattr(services, name)
    command = [sys.executable, "-m", "alfagent_common.healthcheck", address]
    assert subprocess.run(command, cwd=ROOT, capture_output=True, check=False).returncode == 0


def test_container_healthcheck_command_fails_for_a_dead_address() -> None:
    command = [sys.executable, "-m", "alfagent_common.healthcheck", "localhost:1"]
    assert subprocess.run(command, cwd=ROOT, capture_output=True, check=False).returncode == 1
