"""`python -m llm_service`: check the model file's SHA-256, then become `llama-server`.

The process execs llama-server instead of supervising it: signals (SIGTERM from `make down` or a
container runtime) reach the server directly, its exit code is the service's, and no Python
process sits in between holding memory. Problems found before that (an unknown model, a missing
binary, a missing, truncated or corrupt model file) are one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llm_service import models, paths, verify
from llm_service.progress import elapsed

EXIT_REFUSED = 2
VERIFY_MODES = ("full", "stamp")


class ConfigError(ValueError):
    pass


def _flag(environ: Mapping[str, str], name: str) -> bool:
    text = environ.get(name, "").strip()
    if text not in ("", "0", "1"):
        raise ConfigError(f"{name}={text!r} must be 1 or 0")
    return text == "1"


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class ServiceConfig:
    model: models.ModelSpec
    models_dir: Path
    binary: Path
    host: str = "0.0.0.0"
    port: int = 8080
    threads: int = 1
    # Server slots: requests decoded at once (continuous batching), each with its own prompt cache.
    parallel: int = 2
    # Tokens per slot. The agent's prompt budget is 6000 estimated tokens (ALFAGENT_CONTEXT_TOKENS)
    # plus the reply; 8192 leaves room, and costs ~0.45 GB of KV cache per slot for Qwen 1.5B.
    ctx_per_slot: int = 8192
    # "full": hash the file at every start (~3 s for 1.1 GB here); "stamp": trust a `.verified`
    # stamp whose size, mtime and inode still match the file.
    verify: str = "full"
    # Callers must send it (`authorization: Bearer KEY`; the agent's OPENAI_API_KEY); "": none.
    api_key: str = field(default="", repr=False)
    # llama-server's own /metrics (prompt and generation counters), served only when asked for.
    metrics: bool = False

    @property
    def model_file(self) -> Path:
        return self.models_dir / self.model.filename

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ServiceConfig:
        try:
            model = models.selected(environ)
        except (models.UnknownModel, ValueError, OSError) as error:
            raise ConfigError(str(error)) from None
        verify_mode = environ.get("LLM_VERIFY", "").strip() or cls.verify
        if verify_mode not in VERIFY_MODES:
            raise ConfigError(f"LLM_VERIFY={verify_mode!r} is not one of {', '.join(VERIFY_MODES)}")
        return cls(
            model=model,
            models_dir=paths.models_dir(environ),
            binary=paths.llama_server_path(environ),
            host=environ.get("LLM_HOST", "").strip() or cls.host,
            port=_int(environ, "LLM_PORT", cls.port, minimum=1),
            threads=_int(environ, "LLM_THREADS", os.cpu_count() or 1, minimum=1),
            parallel=_int(environ, "LLM_PARALLEL", cls.parallel, minimum=1),
            ctx_per_slot=_int(environ, "LLM_CTX", cls.ctx_per_slot, minimum=256),
            verify=verify_mode,
            api_key=environ.get("LLM_API_KEY", "").strip(),
            metrics=_flag(environ, "LLM_METRICS"),
        )


def server_command(config: ServiceConfig) -> list[str]:
    return [
        str(config.binary),
        "--model", str(config.model_file),
        # Clients (the agent) send and record this name; /props and /v1/models report it.
        "--alias", config.model.name,
        "--host", config.host,
        "--port", str(config.port),
        "--threads", str(config.threads),
        "--threads-batch", str(config.threads),
        "--parallel", str(config.parallel),
        # -c is the whole KV cache, split evenly over the slots.
        "--ctx-size", str(config.ctx_per_slot * config.parallel),
        # The few-shot prefix is the same every turn: reusing its KV cache makes steps ~3 s, not ~20 s.
        "--cache-prompt",
        "--no-webui",
        *(["--metrics"] if config.metrics else []),
    ]  # fmt: skip


def server_environ(config: ServiceConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """llama-server's environment: the API key goes there (LLAMA_API_KEY, which llama-server
    reads as --api-key), never on the command line, which `ps` shows and the log line records."""
    server = {name: value for name, value in environ.items() if name != "LLM_API_KEY"}
    if config.api_key:
        server["LLAMA_API_KEY"] = config.api_key
    return server


def log_line(message: str, **fields: object) -> None:
    """JSON lines like the other services' logs, on stderr."""
    entry = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "service": "llm", "msg": message}
    print(json.dumps({**entry, **fields}), file=sys.stderr, flush=True)


def refuse(message: str) -> int:
    print(f"llm_service: {message}", file=sys.stderr, flush=True)
    return EXIT_REFUSED


def main(environ: Mapping[str, str] = os.environ) -> int:
    try:
        config = ServiceConfig.from_environ(environ)
    except ConfigError as error:
        return refuse(str(error))
    if not os.access(config.binary, os.X_OK):
        return refuse(
            f"llama-server not found at {config.binary}; run `python -m llm_service.build` "
            "or set LLAMA_SERVER"
        )
    started = time.monotonic()
    problem = verify.check_model_file(config.model_file, config.model, trust_stamp=config.verify == "stamp")
    if problem is not None:
        return refuse(problem.message)
    log_line(
        "model verified",
        model=config.model.name,
        sha256=config.model.sha256,
        file=str(config.model_file),
        verify=config.verify,
        took=elapsed(started),
    )
    command = server_command(config)
    log_line("starting llama-server", command=command)
    os.execve(command[0], command, server_environ(config, environ))
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
