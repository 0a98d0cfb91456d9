"""The EnvService contract (contract.py) against the running env service of the `services` fixture.

That is `python -m env_service` started by the tests, the services at ENV_ADDR (with AGENT_ADDR and
STORE_ADDR), or the compose stack's env container with ALFAGENT_TEST_STACK=containers.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from tests.conftest import Services
from tests.env.contract import EnvContract, channel_to


@pytest.fixture
def channel(services: Services) -> Iterator[grpc.Channel]:
    yield from channel_to(services.env)


class TestRunningEnvService(EnvContract):
    pass
