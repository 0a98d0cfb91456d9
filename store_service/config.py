"""The store's configuration, read once from environment variables at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alfagent_common.security import Security
from alfagent_common.settings import ConfigError, get_int, get_log_level, get_port, get_str

MIB = 1024 * 1024
# gRPC messages are capped at 64 MiB (alfagent_common.server); a trajectory must fit in one.
MAX_TRAJECTORY_BYTES_CAP = 60 * MIB


@dataclass(frozen=True)
class StoreConfig:
    """Every setting the store uses; see store_service/README.md for the variables."""

    port: int = 50053
    # Loopback unless told otherwise: reachable from other machines only with TLS and tokens
    # (or ALFAGENT_INSECURE=1; alfagent_common/security.py).
    host: str = "127.0.0.1"
    store_dir: Path = Path("./var/store")
    # A segment file is closed, and the next one started, once it has reached this size.
    segment_bytes: int = 64 * MIB
    # Largest trajectory accepted, measured as its stored JSON line.
    max_trajectory_bytes: int = 4 * MIB
    log_level: str = "INFO"
    grace_seconds: int = 10
    # Prometheus metrics over HTTP on HOST (store_service/metrics.py); 0: none.
    metrics_port: int = 9453
    # TLS and tokens (ALFAGENT_TLS_*, ALFAGENT_TOKENS, ALFAGENT_TOKEN, ALFAGENT_INSECURE).
    security: Security = field(default_factory=Security)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StoreConfig:
        max_trajectory_bytes = get_int(
            environ, "STORE_MAX_TRAJECTORY_BYTES", cls.max_trajectory_bytes, minimum=1024
        )
        if max_trajectory_bytes > MAX_TRAJECTORY_BYTES_CAP:
            raise ConfigError(
                f"STORE_MAX_TRAJECTORY_BYTES={max_trajectory_bytes} is over {MAX_TRAJECTORY_BYTES_CAP}, "
                "the most a gRPC message can carry"
            )
        log_level = get_log_level(environ, cls.log_level)
        return cls(
            port=get_int(environ, "PORT", cls.port),
            host=get_str(environ, "HOST", cls.host),
            store_dir=Path(get_str(environ, "STORE_DIR", str(cls.store_dir))),
            segment_bytes=get_int(environ, "STORE_SEGMENT_BYTES", cls.segment_bytes, minimum=4096),
            max_trajectory_bytes=max_trajectory_bytes,
            log_level=log_level,
            grace_seconds=get_int(environ, "STORE_GRACE_SECONDS", cls.grace_seconds),
            metrics_port=get_port(environ, "METRICS_PORT", cls.metrics_port),
            security=Security.from_environ(environ),
        )
