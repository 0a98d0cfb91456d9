from pathlib import Path

import pytest

from alfagent_common.settings import ConfigError
from store_service.config import StoreConfig


def test_defaults() -> None:
    config = StoreConfig.from_env({})
    assert (config.port, config.host, config.store_dir) == (50053, "127.0.0.1", Path("./var/store"))
    assert config.segment_bytes == 64 * 1024 * 1024 and config.max_trajectory_bytes == 4 * 1024 * 1024


def test_every_variable() -> None:
    config = StoreConfig.from_env(
        {
            "PORT": "0",
            "HOST": "127.0.0.1",
            "STORE_DIR": "/data/store",
            "STORE_SEGMENT_BYTES": "1048576",
            "STORE_MAX_TRAJECTORY_BYTES": "65536",
            "LOG_LEVEL": "debug",
            "STORE_GRACE_SECONDS": "3",
        }
    )
    assert config == StoreConfig(0, "127.0.0.1", Path("/data/store"), 1048576, 65536, "DEBUG", 3)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "http", "not a whole number"),
        ("STORE_SEGMENT_BYTES", "100", "at least 4096"),
        ("STORE_MAX_TRAJECTORY_BYTES", str(100 * 1024 * 1024), "most a gRPC message"),
        ("LOG_LEVEL", "chatty", "LOG_LEVEL"),
    ],
)
def test_bad_values_are_reported_by_name(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StoreConfig.from_env({name: value})


def test_config_is_frozen() -> None:
    config = StoreConfig.from_env({})
    with pytest.raises(AttributeError):
        config.port = 1  # type: ignore[misc]  # assigning to a frozen field is what is tested
