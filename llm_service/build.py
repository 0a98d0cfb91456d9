"""Build llama.cpp's `llama-server` from the sources inside a pinned registry package.

No Linux wheel or Debian package ships `llama-server`; the sdist of `llama-cpp-python==0.3.36` carries
the llama.cpp sources under `vendor/llama.cpp`. Usage:

    python -m llm_service.build [--jobs N] [--portable] [--sdist FILE] [--force]

The binary lands in `<cache>/bin/llama-server` with a stamp beside it recording the source and flags;
a later run with the same source and flags does nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from llm_service import paths
from llm_service.progress import elapsed, log

SDIST_REQUIREMENT = "llama-cpp-python==0.3.36"
SDIST_FILENAME = "llama_cpp_python-0.3.36.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
VENDORED_SOURCES = "llama_cpp_python-0.3.36/vendor/llama.cpp/"

# Found by trying (see LOCAL_LLM.md): the UI flags on make the build download its web UI, which
# fails without internet; CURL/OpenSSL are only for fetching models from a hub, which we never do.
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_CURL=OFF",
)
# The default build tunes for the building CPU; an image meant to run elsewhere needs this.
PORTABLE_FLAG = "-DGGML_NATIVE=OFF"


def cmake_flags(portable: bool) -> list[str]:
    return [*CMAKE_FLAGS, PORTABLE_FLAG] if portable else list(CMAKE_FLAGS)


def stamp_path(binary: Path) -> Path:
    return binary.with_name(binary.name + ".build.json")


def wanted_stamp(portable: bool) -> dict[str, object]:
    return {"sdist": SDIST_FILENAME, "sdist_sha256": SDIST_SHA256, "cmake_flags": cmake_flags(portable)}


def is_built(binary: Path, portable: bool) -> bool:
    stamp = stamp_path(binary)
    if not (binary.is_file() and stamp.is_file()):
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return bool(recorded == wanted_stamp(portable))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download_sdist(into: Path) -> Path:
    """`pip download` with the recorded hash required, so a changed upload is refused by pip itself."""
    requirements = into / "requirements.txt"
    requirements.write_text(f"{SDIST_REQUIREMENT} --hash=sha256:{SDIST_SHA256}\n")
    log(f"downloading {SDIST_REQUIREMENT} (sdist, 76.6 MB; pip's cache makes later runs quick)")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            # The sdist of this one package. Not `:all:`: pip prepares the sdist's metadata in an
            # isolated environment, and `:all:` would build that environment's tools (and theirs)
            # from source too, which takes many minutes on a machine without a warm pip cache.
            "--no-binary",
            "llama-cpp-python",
            "--require-hashes",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(into),
            "-r",
            str(requirements),
        ],
        check=True,
    )
    return into / SDIST_FILENAME


def extract_sources(sdist: Path, into: Path) -> Path:
    log(f"extracting llama.cpp sources from {sdist.name}")
    with tarfile.open(sdist) as archive:
        members = [member for member in archive.getmembers() if member.name.startswith(VENDORED_SOURCES)]
        if hasattr(tarfile, "data_filter"):
            archive.extractall(into, members=members, filter="data")
        else:
            # Pythons before 3.11.4 (Debian bookworm's 3.11.2) have no extraction filters: refuse
            # what the "data" filter would (links, devices, paths leaving `into`) by hand. The
            # sdist's SHA-256 was checked already; this guards against a bad archive all the same.
            for member in members:
                target = (into / member.name).resolve()
                if not (member.isfile() or member.isdir()) or not target.is_relative_to(into.resolve()):
                    raise SystemExit(f"llm_service.build: refusing archive member {member.name!r}")
            archive.extractall(into, members=members)
    return into / VENDORED_SOURCES


def run_cmake_build(source: Path, build: Path, flags: Sequence[str], jobs: int) -> Path:
    log("configuring (cmake " + " ".join(flags) + ")")
    configure = subprocess.run(
        ["cmake", "-S", str(source), "-B", str(build), *flags], capture_output=True, text=True
    )
    if configure.returncode != 0:
        sys.stderr.write(configure.stdout + configure.stderr)
        raise SystemExit(f"llm_service.build: cmake configure failed (exit {configure.returncode})")
    log(f"compiling llama-server with {jobs} job(s); ~7 min on 2 cores; cmake shows [ n%] progress")
    subprocess.run(
        ["cmake", "--build", str(build), "--config", "Release", "--target", "llama-server", "-j", str(jobs)],
        check=True,
    )
    return build / "bin" / "llama-server"


def install(built: Path, binary: Path, portable: bool) -> None:
    """Copy then rename, so a reader never sees a half-copied binary; the stamp goes last."""
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(binary.name + ".partial")
    shutil.copy2(built, partial)
    partial.chmod(0o755)
    os.replace(partial, binary)
    stamp_path(binary).write_text(json.dumps(wanted_stamp(portable), indent=1) + "\n")


def build(binary: Path, *, jobs: int, portable: bool, sdist: Path | None, force: bool) -> None:
    if not force and is_built(binary, portable):
        log(f"llama-server already built: {binary}")
        return
    if shutil.which("cmake") is None:
        raise SystemExit("llm_service.build: cmake is not installed (apt-get install cmake g++ make)")
    started = time.monotonic()
    work_root = paths.cache_dir() / "build"
    work_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llama-", dir=work_root) as work_name:
        work = Path(work_name)
        if sdist is None:
            sdist = download_sdist(work)
        elif sha256_of(sdist) != SDIST_SHA256:
            raise SystemExit(f"llm_service.build: {sdist} is not {SDIST_FILENAME} (sha256 {SDIST_SHA256})")
        source = extract_sources(sdist, work / "src")
        built = run_cmake_build(source, work / "build", cmake_flags(portable), jobs)
        install(built, binary, portable)
    log(f"built {binary} in {elapsed(started)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_service.build", description=__doc__.split("\n")[0])
    default_jobs = int(os.environ.get("LLM_BUILD_JOBS") or os.cpu_count() or 1)
    parser.add_argument(
        "--jobs", "-j", type=int, default=default_jobs, help="compile jobs (default: LLM_BUILD_JOBS or CPUs)"
    )
    parser.add_argument(
        "--portable",
        action="store_true",
        default=os.environ.get("LLM_BUILD_PORTABLE") == "1",
        help=f"{PORTABLE_FLAG}: run on any x86-64 CPU, not only this one (for images; LLM_BUILD_PORTABLE=1)",
    )
    parser.add_argument("--sdist", type=Path, help=f"a local {SDIST_FILENAME} instead of pip download")
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    parser.add_argument(
        "--output",
        type=Path,
        help="where the binary goes (default: LLAMA_SERVER or <cache>/bin/llama-server)",
    )
    args = parser.parse_args(argv)
    binary = args.output or paths.llama_server_path()
    build(binary, jobs=max(1, args.jobs), portable=args.portable, sdist=args.sdist, force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
