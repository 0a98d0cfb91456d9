"""Writes requirements/hashed/: what each image installs, pinned and hashed for `pip --require-hashes`.

- `bootstrap.txt`: pip and setuptools, the installer and the build backend, installed first in every
  dependency stage of the Dockerfile (`pip install --require-hashes -r`);
- `<group>.txt` for each image's dependency group (codegen, env, store, agent): every package
  `pip install --group <group>` pulls in, at the version requirements/constraints.txt pins, with the
  SHA-256 of the one file pip picks (`pip install --require-hashes -c <group>.txt --group <group>`).

The files come from pip itself: `pip install --dry-run --ignore-installed --report` resolves each
group against requirements/constraints.txt and names the file it would install and its SHA-256 as
the index publishes it (pip checks every download against that hash). Only files from the index
over https are taken; the machine's pip configuration (find-links, extra indexes, constraints) is
left out, so that a locally built wheel never stands in for the registry's file.

pip picks files by the interpreter and platform it runs on, so this runs only where the images'
base does: CPython 3.11, linux x86_64, glibc 2.36 (Debian bookworm, as python:3.11-slim-bookworm and
the stand-in of standin-base.sh). Source-only packages (Fast Downward, Jericho) are hashed as their
sdists; the env stage builds them without build isolation, with the hashed setuptools, because an
isolated build would fetch its build requirements unchecked.

Usage: .venv/bin/python tools/containers/hash_requirements.py [--check]   (`make hashes`)
--check: write nothing, exit 1 if any file differs from what it would write.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
OUT = ROOT / "requirements" / "hashed"
# The images' dependency groups (pyproject.toml), each its own file.
GROUPS = ("codegen", "env", "store", "agent")
# Installed before any group, by name; their versions come from requirements/constraints.txt.
BOOTSTRAP = ("pip", "setuptools")
# Where pip's choice of file is the images' (see the module's docstring).
TARGET = {"python": (3, 11), "machine": "x86_64", "glibc": "2.36"}
# pip's own variables that change what it resolves or where from; dropped for the resolution.
KEPT_PIP_VARIABLES = {"PIP_CERT", "PIP_DEFAULT_TIMEOUT"}


def canonical(name: str) -> str:
    """PEP 503's normal form of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def refuse_other_platforms() -> None:
    glibc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    here = {
        "python": sys.version_info[:2],
        "machine": platform.machine(),
        "glibc": (glibc or "none").removeprefix("glibc "),
    }
    if sys.implementation.name != "cpython" or here != TARGET:
        raise SystemExit(
            f"hash_requirements: pip here would pick files for {here}, the images need {TARGET}; "
            "run it on Debian bookworm x86_64 with CPython 3.11 (or in a container of the base image)"
        )


def resolve(requirements: list[str]) -> dict[str, tuple[str, str, str]]:
    """{canonical name: (version, sha256, file name)} of what pip would install for these arguments."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in KEPT_PIP_VARIABLES}
    environ["PIP_CONFIG_FILE"] = os.devnull
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "report.json"
        command = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
            "--disable-pip-version-check", "--report", str(report), "-c", str(CONSTRAINTS), *requirements,
        ]  # fmt: skip
        result = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"hash_requirements: {' '.join(command)} failed:\n{result.stderr}")
        installs = json.loads(report.read_text())["install"]
    found: dict[str, tuple[str, str, str]] = {}
    for item in installs:
        name, version = canonical(item["metadata"]["name"]), item["metadata"]["version"]
        info = item["download_info"]
        sha256 = info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not info["url"].startswith("https://") or not sha256:
            raise SystemExit(f"hash_requirements: {name} {version} comes from {info['url']}, not the index")
        found[name] = (version, sha256, info["url"].rsplit("/", 1)[-1])
    return found


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    return pins


def render(title: str, packages: dict[str, tuple[str, str, str]]) -> str:
    pins = pinned_versions()
    unpinned = sorted(f"{n}=={v}" for n, (v, _, _) in packages.items() if pins.get(n) != v)
    if unpinned:
        raise SystemExit(f"hash_requirements: not pinned so in requirements/constraints.txt: {unpinned}")
    lines = [
        "# Generated by tools/containers/hash_requirements.py (`make hashes`): do not edit; change",
        "# pyproject.toml or requirements/constraints.txt and run it again.",
        f"# {title}; each hash is that of",
        "# the file pip picks for CPython 3.11 on linux x86_64 (glibc 2.36, Debian bookworm).",
    ]
    for name in sorted(packages):
        version, sha256, filename = packages[name]
        lines += [f"{name}=={version} \\", f"    --hash=sha256:{sha256}", f"    # {filename}"]
    return "\n".join(lines) + "\n"


def expected() -> dict[Path, str]:
    files = {
        OUT / "bootstrap.txt": render(
            "pip and setuptools, installed first in every dependency stage (-r)", resolve(list(BOOTSTRAP))
        )
    }
    for group in GROUPS:
        title = f"everything `pip install --group {group}` installs, as constraints (-c)"
        files[OUT / f"{group}.txt"] = render(title, resolve(["--group", group]))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs; write nothing")
    args = parser.parse_args()
    refuse_other_platforms()
    files = expected()
    stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)}: differs from what pip resolves now", file=sys.stderr)
        raise SystemExit(1 if stale else 0)
    OUT.mkdir(exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
        print(f"{path.relative_to(ROOT)}: {text.count('--hash=')} packages")


if __name__ == "__main__":
    main()
