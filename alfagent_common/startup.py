"""How every service's `python -m` entry point starts: configuration first, then serving.

A configuration the service cannot use ends the process before anything starts, the same way in
every service: one line on stderr naming the service, the variable and its value
(`env_service: ENV_WORKERS=-1 must be at least 0`), and exit code 2 — a supervisor or a person
sees the cause at once instead of a traceback, and restarting will not help.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, NoReturn, Protocol, TypeVar

from alfagent_common import eventloop, logs
from alfagent_common.settings import ConfigError, check_log_level

# The exit code of a configuration error (as argparse's for a bad command line).
CONFIG_ERROR_EXIT_CODE = 2


class ServiceConfig(Protocol):
    @property
    def log_level(self) -> str: ...


Config = TypeVar("Config", bound=ServiceConfig)


def config_error(service: str, error: ConfigError) -> NoReturn:
    print(f"{service}: {error}", file=sys.stderr)
    raise SystemExit(CONFIG_ERROR_EXIT_CODE)


def read_config(service: str, read: Callable[[Mapping[str, str]], Config]) -> Config:
    """The service's configuration from the environment (LOG_LEVEL checked for every service)."""
    try:
        config = read(os.environ)
        check_log_level(config.log_level)
    except ConfigError as error:
        config_error(service, error)
    return config


def serve(
    service: str,
    read: Callable[[Mapping[str, str]], Config],
    run: Callable[[Config], Coroutine[Any, Any, None]],
) -> None:
    """Read the configuration, set up logging, and run the service until it stops."""
    config = read_config(service, read)
    logs.configure(service, config.log_level)
    try:
        eventloop.run(run(config))
    except ConfigError as error:  # found only once running: EVENT_LOOP, or a service's own checks
        config_error(service, error)
