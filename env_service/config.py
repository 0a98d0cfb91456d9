"""env_service configuration, read once from environment variables at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alfagent_common.security import Security
from alfagent_common.settings import get_float, get_int, get_port, get_str

# Games this project generated and ships, in ALFWorld's official layout.
SHIPPED_GAMES_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class EnvConfig:
    port: int = 50052
    # Loopback unless told otherwise: reachable from other machines only with TLS and tokens
    # (or ALFAGENT_INSECURE=1; alfagent_common/security.py).
    host: str = "127.0.0.1"
    # Prometheus metrics over HTTP on HOST (env_service/metrics.py); 0: none.
    metrics_port: int = 9452
    # TLS and tokens (ALFAGENT_TLS_*, ALFAGENT_TOKENS, ALFAGENT_TOKEN, ALFAGENT_INSECURE).
    security: Security = field(default_factory=Security)
    # Roots holding json_2.1.1/<split>/...: the shipped generated games, then ALFWORLD_DATA.
    game_roots: tuple[Path, ...] = (SHIPPED_GAMES_DIR,)
    # Worker processes playing the games; 0: the service plays them itself (inprocess.py).
    workers: int = 2
    max_sessions: int = 64
    session_ttl_seconds: float = 600.0
    max_action_chars: int = 1000
    # Longest a replan of the expert plan may hold a worker; None: no limit (ENV_REPLAN_SECONDS=0).
    replan_seconds: float | None = 30.0
    # Facts read from the game files, kept between start-ups (games/scan_cache.py); None: off.
    catalog_cache: Path | None = None
    # PDDL→SAS translations shared by the workers and kept between start-ups (translations.py).
    translation_cache: Path | None = None
    log_level: str = "INFO"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> EnvConfig:
        environ = os.environ if environ is None else environ
        roots = [Path(get_str(environ, "ALFAGENT_GAMES_DIR", str(SHIPPED_GAMES_DIR)))]
        official = get_str(environ, "ALFWORLD_DATA", "")
        if official:
            # Kept even without json_2.1.1: alfworld's own tools set ALFWORLD_DATA before any
            # download, so the server warns at start-up instead of refusing to serve.
            roots.append(Path(official))
        return cls(
            port=get_int(environ, "PORT", cls.port),
            host=get_str(environ, "HOST", cls.host),
            metrics_port=get_port(environ, "METRICS_PORT", cls.metrics_port),
            security=Security.from_environ(environ),
            game_roots=tuple(roots),
            workers=get_int(environ, "ENV_WORKERS", os.cpu_count() or 1, minimum=0),
            max_sessions=get_int(environ, "ENV_MAX_SESSIONS", cls.max_sessions, minimum=1),
            session_ttl_seconds=get_float(environ, "ENV_SESSION_TTL_SECONDS", cls.session_ttl_seconds),
            max_action_chars=get_int(environ, "ENV_MAX_ACTION_CHARS", cls.max_action_chars, minimum=1),
            catalog_cache=catalog_cache_path(environ),
            translation_cache=cache_path(environ, "ENV_TRANSLATION_CACHE", "translations"),
            replan_seconds=get_float(environ, "ENV_REPLAN_SECONDS", 30.0) or None,
            log_level=get_str(environ, "LOG_LEVEL", cls.log_level),
        )


def cache_path(environ: Mapping[str, str], variable: str, name: str) -> Path | None:
    """`variable`; unset: `$XDG_CACHE_HOME/alfagent/<name>` (or under ~/.cache); empty: off."""
    if variable in environ:
        value = environ[variable].strip()
        return Path(value).expanduser() if value else None
    cache_home = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".cache")
    return Path(cache_home) / "alfagent" / name


def catalog_cache_path(environ: Mapping[str, str]) -> Path | None:
    """ENV_CATALOG_CACHE; unset: `$XDG_CACHE_HOME/alfagent/catalog.json` (or under ~/.cache); empty: off."""
    return cache_path(environ, "ENV_CATALOG_CACHE", "catalog.json")
