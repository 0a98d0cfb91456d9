"""METRICS_PORT, read once with each service's other settings: its default, 0, and bad values."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from agent_service.config import AgentConfig
from alfagent_common.settings import ConfigError
from env_service.config import EnvConfig
from store_service.config import StoreConfig

READERS: list[tuple[Callable[[Mapping[str, str]], AgentConfig | EnvConfig | StoreConfig], int]] = [
    (AgentConfig.from_environ, 9451),
    (EnvConfig.from_environ, 9452),
    (StoreConfig.from_env, 9453),
]


@pytest.mark.parametrize(("read", "default"), READERS)
def test_metrics_port_default_zero_and_a_port(
    read: Callable[[Mapping[str, str]], AgentConfig | EnvConfig | StoreConfig], default: int
) -> None:
    assert read({}).metrics_port == default
    assert read({"METRICS_PORT": "0"}).metrics_port == 0
    assert read({"METRICS_PORT": " 19000 ", "HOST": "127.0.0.1"}).metrics_port == 19000


@pytest.mark.parametrize(("read", "default"), READERS)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("metrics", "METRICS_PORT='metrics' is not a whole number"),
        ("-1", "METRICS_PORT=-1 must be at least 0"),
        ("65536", r"METRICS_PORT=65536 is not a port \(0-65535\)"),
    ],
)
def test_a_bad_metrics_port_is_a_config_error(
    read: Callable[[Mapping[str, str]], AgentConfig | EnvConfig | StoreConfig],
    default: int,
    value: str,
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        read({"METRICS_PORT": value})
