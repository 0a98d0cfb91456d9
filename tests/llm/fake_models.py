"""Small model packages shaped like the real ones (a wheel with `<package>/data/partNN.bin`), and a
catalog entry for them, so fetch and the service can be tested without the 1.1 GB model."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from dataclasses import asdict
from pathlib import Path

from llm_service.fetch import normalized
from llm_service.models import ModelSpec

VERSION = "0.1.0"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(directory: Path, project: str, chunks: dict[str, bytes], version: str = VERSION) -> Path:
    """A valid wheel (pip accepts it from --find-links) holding `chunks` under `<package>/data/`."""
    package = normalized(project)
    dist_info = f"{package}-{version}.dist-info"
    files = {
        f"{package}/__init__.py": b"",
        **{f"{package}/data/{name}": data for name, data in chunks.items()},
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: alfagent-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [_record_line(name, data) for name, data in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / f"{package}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return path


def fake_model(
    directory: Path, name: str = "fake-model", parts: int = 3, sha256: str | None = None
) -> tuple[ModelSpec, bytes]:
    """Wheels `<name>-partN` in `directory` and the catalog entry they assemble to.

    Package 1 holds two chunks named so that plain string order would be wrong (part10 before
    part2), to show that chunks are joined in numeric order.
    """
    content = b""
    packages = []
    for number in range(1, parts + 1):
        project = f"alfagent-test-{name}-part{number}"
        if number == 1:
            chunks = {"part2.bin": b"B" * 1000, "part10.bin": b"C" * 500}
            content += chunks["part2.bin"] + chunks["part10.bin"]
        else:
            chunks = {f"part{number:02d}.bin": bytes([number]) * (700 + number)}
            content += next(iter(chunks.values()))
        make_wheel(directory, project, chunks)
        packages.append(f"{project}=={VERSION}")
    model = ModelSpec(
        name=name,
        packages=tuple(packages),
        size_bytes=len(content),
        sha256=sha256 or hashlib.sha256(content).hexdigest(),
        description="test model",
    )
    return model, content


def write_catalog(path: Path, *entries: ModelSpec) -> Path:
    path.write_text(json.dumps([{**asdict(entry), "packages": list(entry.packages)} for entry in entries]))
    return path
