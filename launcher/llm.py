"""The local model service `llm` as a process beside the three gRPC services.

`python -m llm_service` checks the model file and execs llama-server, which logs plain text and
has no "serving" line: it is ready when `GET /health` answers 200 (503 while the model loads).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from launcher.processes import ServiceFailed, ServiceProcess, start_service
from llm_service import models, paths
from llm_service.healthcheck import healthy

DEFAULT_LLM_PORT = 8080
# Hashing the 1.1 GB model (~3 s) and loading it (~2.5 s) take longer on 2 busy cores.
READY_TIMEOUT_SECONDS = 300.0


@dataclass
class LLMProcess(ServiceProcess):
    def wait_serving(self, timeout_seconds: float = READY_TIMEOUT_SECONDS) -> int:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if healthy(self.address, timeout_seconds=2.0):
                return self.port
            if self.process.poll() is not None:
                raise ServiceFailed(f"llm exited with code {self.process.returncode}:\n{self.log_tail()}")
            time.sleep(0.25)
        raise ServiceFailed(f"llm did not answer /health within {timeout_seconds:.0f}s:\n{self.log_tail()}")


def free_port() -> int:
    """A port free right now; llama-server cannot report a port the OS picked for it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_llm(*, port: int, log_path: Path, environ: Mapping[str, str]) -> LLMProcess:
    port = port or free_port()
    started = start_service(
        "llm_service", port=0, log_path=log_path, environ={**environ, "LLM_PORT": str(port)}
    )
    return LLMProcess("llm", started.process, started.log_path, port)


def missing_parts(environ: Mapping[str, str] = os.environ) -> list[str]:
    """What `make llm` still has to provide (binary, model file) before `llm` can start."""
    missing = []
    binary = paths.llama_server_path(environ)
    if not os.access(binary, os.X_OK):
        missing.append(f"llama-server ({binary})")
    try:
        model = models.selected(environ)
    except (models.UnknownModel, ValueError) as error:
        return [*missing, str(error)]
    model_file = paths.models_dir(environ) / model.filename
    if not model_file.is_file():
        missing.append(f"model {model.name} ({model_file})")
    return missing
