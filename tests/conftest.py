"""Shared fixtures: the three services as real processes, or already-running ones.

With AGENT_ADDR, ENV_ADDR and STORE_ADDR all set (e.g. to containers), the tests use those;
otherwise they start `python -m env_service|store_service|agent_service` on free loopback ports
with a scrubbed environment and a temporary store, exactly as `make up` starts them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from launcher.stack import start_stack

# Nothing from the developer's shell may steer the services under test.
_SCRUBBED_PREFIXES = ("OPENAI_", "ALFAGENT_", "ALFWORLD_", "ENV_", "STORE_", "AGENT_", "PORT", "HOST", "LLM_")


@dataclass(frozen=True)
class Services:
    agent: str
    env: str
    store: str
    # Where the store writes, when the tests started it themselves.
    store_dir: Path | None


def scrubbed_environ(**overrides: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    return {**base, **overrides}


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    external = [os.environ.get(name, "") for name in ("AGENT_ADDR", "ENV_ADDR", "STORE_ADDR")]
    if all(external):
        agent, env, store = external
        yield Services(agent, env, store, store_dir=None)
        return
    root = tmp_path_factory.mktemp("stack")
    stack = start_stack(
        run_dir=root / "logs",
        store_dir=root / "store",
        environ=scrubbed_environ(ENV_WORKERS="2", ENV_CATALOG_CACHE=str(root / "catalog.json")),
    )
    try:
        yield Services(stack.agent.address, stack.env.address, stack.store.address, root / "store")
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
