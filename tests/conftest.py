"""Shared fixtures: the three services as real processes, as containers, or already-running ones.

With ALFAGENT_TEST_STACK=containers the tests run against the compose stack, built and started by a
real container engine (tests/containers/engine.py), and read the store's named volume; the
container tests in tests/containers/ run only then. With AGENT_ADDR, ENV_ADDR and STORE_ADDR all
set, the tests use those services. Otherwise they start `python -m env_service|store_service|
agent_service` on free loopback ports with a scrubbed environment and a temporary store, exactly
as `make up` starts them.

Where no container engine runs, the container stack skips with the reason; with
ALFAGENT_REQUIRE_CONTAINERS=1 (CI sets it) that skip is a failure instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from launcher.llm import free_port
from launcher.processes import REPO_ROOT
from launcher.stack import start_stack
from tests.containers.engine import ComposeStack, engine_or_skip

ON_CONTAINERS = os.environ.get("ALFAGENT_TEST_STACK", "processes") == "containers"
# The container tests need the container stack: collected only when the tests run against it.
collect_ignore = [] if ON_CONTAINERS else ["containers"]

# Nothing from the developer's shell may steer the services under test.
_SCRUBBED_PREFIXES = (
    "OPENAI_",
    "ALFAGENT_",
    "ALFWORLD_",
    "ENV_",
    "STORE_",
    "AGENT_",
    "PORT",
    "HOST",
    "LLM_",
    "METRICS_",
)


@dataclass(frozen=True)
class Services:
    agent: str
    env: str
    store: str
    # Where the store writes, when the tests started it themselves.
    store_dir: Path | None
    # A port on 127.0.0.1 whose LLM endpoint the agent may call (ALFAGENT_ALLOWED_BASE_URLS), for a
    # test's fake model server; 0 when the tests did not start the agent.
    llm_port: int = 0


def scrubbed_environ(**overrides: str) -> dict[str, str]:
    """The environment without the developer's settings; services started with it serve no
    metrics unless `overrides` give METRICS_PORT (the default ports would collide between
    services the tests start side by side, or with a `make up` stack)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    return {**base, "METRICS_PORT": "0", **overrides}


def run_json_module(module: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    """`python -m module args...` in its own process from the repository root, with a scrubbed
    environment; the JSON object its last line of output holds."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=scrubbed_environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


@pytest.fixture(scope="session")
def container_stack() -> Iterator[ComposeStack]:
    """The compose stack as a container engine runs it, healthy; removed with its volumes after."""
    stack = ComposeStack(engine_or_skip())
    stack.build_missing_images()
    stack.down(volumes=True)  # what an interrupted earlier run left
    stack.up()
    try:
        stack.wait_healthy()
        yield stack
    finally:
        stack.down(volumes=True)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Services]:
    if ON_CONTAINERS:
        containers: ComposeStack = request.getfixturevalue("container_stack")
        yield Services(
            containers.address("agent"),
            containers.address("env"),
            containers.address("store"),
            store_dir=containers.engine.volume_path("trajectories"),
        )
        return
    external = [os.environ.get(name, "") for name in ("AGENT_ADDR", "ENV_ADDR", "STORE_ADDR")]
    if all(external):
        agent, env, store = external
        yield Services(agent, env, store, store_dir=None)
        return
    root = tmp_path_factory.mktemp("stack")
    llm_port = free_port()
    stack = start_stack(
        run_dir=root / "logs",
        store_dir=root / "store",
        environ=scrubbed_environ(
            ENV_WORKERS="2",
            ENV_CATALOG_CACHE=str(root / "catalog.json"),
            # Not the developer's `make up` llm on :8080: the agent's default endpoint answers nothing.
            LLM_ADDR=f"127.0.0.1:{free_port()}",
            # A request may name a fake model server on this port (tests/agent/test_llm_service.py).
            ALFAGENT_ALLOWED_BASE_URLS=f"http://127.0.0.1:{llm_port}/v1",
        ),
    )
    try:
        yield Services(stack.agent.address, stack.env.address, stack.store.address, root / "store", llm_port)
    finally:
        stack.stop()


def _channel(address: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(address) as channel:
        yield channel


@pytest.fixture
def env_channel(services: Services) -> Iterator[grpc.Channel]:
    yield from _channel(services.env)


@pytest.fixture
def agent_channel(services: Services) -> Iterator[grpc.Channel]:
    yield from _channel(services.agent)


@pytest.fixture
def store_channel(services: Services) -> Iterator[grpc.Channel]:
    yield from _channel(services.store)
