"""Reading configuration from environment variables, once, with readable errors."""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """A configuration variable has a value the service cannot use."""


def get_str(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip()
    return value or default


def get_int(environ: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def get_float(environ: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def get_port(environ: Mapping[str, str], name: str, default: int) -> int:
    """A TCP port (0-65535) from `name`; what 0 means is the variable's to say."""
    port = get_int(environ, name, default)
    if port > 65535:
        raise ConfigError(f"{name}={port} is not a port (0-65535)")
    return port


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def get_log_level(environ: Mapping[str, str], default: str = "INFO") -> str:
    """LOG_LEVEL, upper-cased; ConfigError for a level the services do not log at."""
    return check_log_level(get_str(environ, "LOG_LEVEL", default))


def check_log_level(level: str) -> str:
    """`level` upper-cased, if it is one of LOG_LEVELS; ConfigError otherwise."""
    if level.upper() not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={level.upper()!r} is not one of {', '.join(LOG_LEVELS)}")
    return level.upper()
