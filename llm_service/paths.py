"""Where the built binary and the assembled models live: `ALFAGENT_CACHE` (default ~/.cache/alfagent)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_CACHE = Path("~/.cache/alfagent")


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("ALFAGENT_CACHE") or DEFAULT_CACHE).expanduser()


def models_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """`LLM_MODEL_DIR` overrides `<cache>/models` (e.g. a volume mounted in a container)."""
    override = environ.get("LLM_MODEL_DIR")
    return Path(override).expanduser() if override else cache_dir(environ) / "models"


def bin_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return cache_dir(environ) / "bin"


def llama_server_path(environ: Mapping[str, str] = os.environ) -> Path:
    """`LLAMA_SERVER` overrides `<cache>/bin/llama-server`."""
    override = environ.get("LLAMA_SERVER")
    return Path(override).expanduser() if override else bin_dir(environ) / "llama-server"
