"""An env_service of its own for tests that need particular settings (caps, TTL, workers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

from alfagent.env.v1 import env_pb2_grpc
from launcher.processes import ServiceProcess, start_service
from tests.conftest import scrubbed_environ


@contextmanager
def env_service(
    log_dir: Path, **settings: str
) -> Iterator[tuple[ServiceProcess, env_pb2_grpc.EnvServiceStub]]:
    service = start_service(
        "env_service", port=0, log_path=log_dir / "env_service.log", environ=scrubbed_environ(**settings)
    )
    try:
        service.wait_serving()
        with grpc.insecure_channel(service.address) as channel:
            yield service, env_pb2_grpc.EnvServiceStub(channel)
    finally:
        service.stop()
