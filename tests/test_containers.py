"""The container files, checked statically (no Docker engine runs here) against the code.

docker-compose.yml must validate, the Dockerfile must pass hadolint, its stages must refer only to
stages before them, and the commands, ports, variables and healthchecks of each service's target
must be the ones the service really uses.
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
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

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


def stages() -> dict[str, str]:
    """The root Dockerfile's stages by name (the text from each `FROM ... AS name` to the next)."""
    text = (ROOT / "Dockerfile").read_text()
    found: dict[str, str] = {}
    for part in re.split(r"^(?=FROM )", text, flags=re.M)[1:]:
        match = re.match(r"FROM \S+ AS (\S+)\n", part)
        assert match, f"every stage is named: {part.splitlines()[0]}"
        found[match.group(1)] = part
    return found


def stage_chain(name: str) -> str:
    """A stage's text and that of the stages it is built FROM, up to the base image."""
    every = stages()
    text = every[name]
    base = re.match(r"FROM (\S+)", text)
    assert base is not None
    return text + (stage_chain(base.group(1)) if base.group(1) in every else "")


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
    assert service["build"] == {"context": ".", "target": name}
    assert service["image"] == f"alfagent-{name}"
    assert service["environment"]["PORT"] == str(port)
    # Published on 127.0.0.1 (the binding port) unless <NAME>_PUBLISH says where (the container
    # tests' stack); env replicas (`--scale env=N`) each on a loopback port the engine picks, so they
    # never clash. tests/scale/test_compose_hardening.py checks the rest of the hardening.
    published = "127.0.0.1:" if name == "env" else f"127.0.0.1:{port}"
    assert service["ports"] == [f"${{{name.upper()}_PUBLISH:-{published}}}:{port}"]
    # Non-root on a read-only root filesystem; each writes only its volume and a small /tmp.
    assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]
    assert service["restart"] == "unless-stopped"
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
    # Every address of the name `env` is a replica (compose --scale env=N).
    assert agent_env["ENV_ADDR"] == f"dns:///env:{EnvConfig.port}"
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


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_stages_refer_only_to_stages_before_them() -> None:
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim", (ROOT / "Dockerfile").read_text(), re.M)
    seen: list[str] = []
    for name, text in stages().items():
        base = re.match(r"FROM (\S+)", text)
        assert base is not None and base.group(1) in ["${PYTHON_IMAGE}", *seen], (
            f"{name} is built FROM {base}"
        )
        for source in re.findall(r"--from=(\S+)", text):
            assert source in seen, f"{name} copies from {source}, which is not a stage before it"
        seen.append(name)
    # The image generates exactly the protos the repository has.
    protos = {str(p.relative_to(ROOT)) for p in (ROOT / "proto").rglob("*.proto")}
    assert protos == set(re.findall(r"proto/alfagent/\S+\.proto", stages()["codegen"]))


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_target_matches_the_code(name: str) -> None:
    module, port = SERVICES[name]
    text = stage_chain(name)
    assert f'CMD ["python", "-m", "{module}"]' in text
    assert f"EXPOSE {port}" in text
    assert f"PORT={port}" in text
    assert re.search(r"^USER \d+$", stages()[name], re.M), "runs as a non-root user"
    # Its virtualenv holds its own dependency group.
    venv = re.search(r"^COPY --from=(\S+) /opt/venv /opt/venv$", text, re.M)
    assert venv is not None
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    assert re.findall(r"--group (\S+)", stages()[venv.group(1)]) == [name]
    for group in re.findall(r"--group (\S+)", (ROOT / "Dockerfile").read_text()):
        assert group in groups
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"the {name} target copies {path}, which does not exist"
    healthcheck = f'CMD ["python", "-m", "alfagent_common.healthcheck", "localhost:{port}"]'
    assert healthcheck in text


def test_store_image_writes_to_its_volume() -> None:
    text = stages()["store"]
    assert "STORE_DIR=/data" in text and "VOLUME /data" in text


@pytest.mark.parametrize("name", SERVICES)
def test_container_healthcheck_command_reports_a_live_service(services: Services, name: str) -> None:
    address = getattr(services, name)
    command = [sys.executable, "-m", "alfagent_common.healthcheck", address]
    assert subprocess.run(command, cwd=ROOT, capture_output=True, check=False).returncode == 0


def test_container_healthcheck_command_fails_for_a_dead_address() -> None:
    command = [sys.executable, "-m", "alfagent_common.healthcheck", "localhost:1"]
    assert subprocess.run(command, cwd=ROOT, capture_output=True, check=False).returncode == 1


def test_compose_runs_the_local_model_service_and_points_the_agent_at_it() -> None:
    services = compose()["services"]
    llm = services["llm"]
    assert llm["build"]["target"] == "llm" and llm["image"] == "alfagent-llm"
    assert llm["command"] == ["python", "-m", "llm_service"]
    assert llm["environment"]["LLM_PORT"] == "8080"
    assert llm["ports"] == ["${LLM_PUBLISH:-127.0.0.1:8080}:8080"]
    assert llm["healthcheck"]["test"] == ["CMD", "python", "-m", "llm_service.healthcheck", "localhost:8080"]
    assert llm["read_only"] is True
    assert services["agent"]["environment"]["LLM_ADDR"] == "llm:8080"


def test_dockerfile_llm_target_serves_a_checked_model_as_non_root() -> None:
    text = stage_chain("llm")
    assert 'CMD ["python", "-m", "llm_service"]' in text and "EXPOSE 8080" in text
    assert 'CMD ["python", "-m", "llm_service.healthcheck", "localhost:8080"]' in text
    assert re.search(r"^USER \d+$", stages()["llm"], re.M)
    # The binary and the model come from build stages; the image itself has no compiler.
    assert "build-essential" not in text
    assert "python -m llm_service.build" in stages()["llm-server-build"]
    assert "python -m llm_service.fetch" in stages()["llm-model"]
    assert "LLM_VERIFY=full" in stages()["llm"]
