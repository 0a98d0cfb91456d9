"""requirements/hashed/: what the images install, every package pinned and hashed (`pip install
--require-hashes`), and the Dockerfile installing nothing any other way.

The files are written by tools/containers/hash_requirements.py (`make hashes`) from pip's own
resolution; these checks need no network: every package carries a SHA-256, its version is the one
requirements/constraints.txt pins, each group's file holds every package the group names, and each
hashed file is one pip can install where the images run (CPython 3.11, linux x86_64, glibc 2.36).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
HASHED = ROOT / "requirements" / "hashed"
GROUPS = ["codegen", "env", "store", "agent"]
FILES = ["bootstrap", *GROUPS]
# `name==version \` then `--hash=sha256:…` lines, then `# file name`.
ENTRY = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9.-]*)==(?P<version>\S+) \\\n"
    r"(?P<hashes>(?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)"
    r"    # (?P<file>\S+)$",
    re.M,
)
# What pip accepts on the images' base: CPython 3.11, glibc 2.36 (Debian bookworm), x86_64.
PLATFORMS = [
    *(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
]
TARGET_TAGS: set[Tag] = {
    *cpython_tags((3, 11), abis=["cp311", "abi3", "none"], platforms=PLATFORMS),
    *compatible_tags((3, 11), "cp311", platforms=PLATFORMS),
}


def entries(name: str) -> list[re.Match[str]]:
    return list(ENTRY.finditer((HASHED / f"{name}.txt").read_text()))


def constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def group_requirements(group: str) -> dict[str, str]:
    """{name: pinned version} of what a dependency group of pyproject.toml names, included groups too."""
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    found: dict[str, str] = {}
    for entry in groups[group]:
        if isinstance(entry, dict):
            found.update(group_requirements(entry["include-group"]))
        else:
            name, _, version = entry.partition("==")
            found[canonicalize_name(name.split("[")[0])] = version
    return found


@pytest.mark.parametrize("name", FILES)
def test_every_package_is_pinned_with_a_hash_and_nothing_else_is_in_the_file(name: str) -> None:
    text = (HASHED / f"{name}.txt").read_text()
    found = entries(name)
    assert found, f"{name}.txt lists no package"
    # Outside the entries, only comments: no requirement without a hash slips in.
    rest = ENTRY.sub("", text)
    assert all(line.startswith("#") or not line.strip() for line in rest.splitlines()), rest
    for entry in found:
        assert entry.group("hashes").count("--hash=sha256:") >= 1


@pytest.mark.parametrize("name", FILES)
def test_versions_are_those_requirements_constraints_pins(name: str) -> None:
    pins = constraints()
    for entry in entries(name):
        assert pins.get(entry.group("name")) == entry.group("version"), (
            f"{name}.txt has {entry.group('name')}=={entry.group('version')}, constraints.txt "
            f"{pins.get(entry.group('name'))}: run `make hashes`"
        )


@pytest.mark.parametrize("group", GROUPS)
def test_each_group_file_holds_everything_the_group_names(group: str) -> None:
    hashed = {e.group("name"): e.group("version") for e in entries(group)}
    for name, version in group_requirements(group).items():
        assert hashed.get(name) == version, f"{group}.txt lacks {name}=={version}: run `make hashes`"


@pytest.mark.parametrize("name", FILES)
def test_each_hashed_file_is_one_pip_installs_where_the_images_run(name: str) -> None:
    for entry in entries(name):
        filename = entry.group("file")
        if filename.endswith(".tar.gz"):
            continue  # an sdist, built in the image (env-deps)
        project, version, _, tags = parse_wheel_filename(filename)
        assert (project, str(version)) == (entry.group("name"), entry.group("version"))
        assert tags & TARGET_TAGS, f"{filename} does not install on CPython 3.11 linux x86_64 (glibc 2.36)"


def dockerfile_stages() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    found = {}
    for part in re.split(r"^(?=FROM )", text, flags=re.M)[1:]:
        match = re.match(r"FROM \S+ AS (\S+)\n", part)
        assert match
        found[match.group(1)] = part
    return found


def pip_installs(text: str) -> list[str]:
    """Each `pip install …` of a Dockerfile text (comments left out), continuation lines joined."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    joined = re.sub(r"\\\n\s*", " ", code)
    return [m.group(0) for m in re.finditer(r"pip install [^&\n]*", joined)]


def test_every_pip_install_of_the_dockerfile_requires_hashes() -> None:
    installs = pip_installs((ROOT / "Dockerfile").read_text())
    assert len(installs) == 2 * len(GROUPS)
    for install in installs:
        assert "--require-hashes" in install, install
        files = re.findall(r"-[rc] (\S+)", install)
        assert files and all(f.startswith("requirements/hashed/") for f in files), install
        assert "requirements/constraints.txt" not in install


@pytest.mark.parametrize("group", GROUPS)
def test_each_dependency_stage_installs_bootstrap_then_its_group_by_hash(group: str) -> None:
    stages = dockerfile_stages()
    [stage] = [text for text in stages.values() if f"--group {group}" in text]
    installs = pip_installs(stage)
    assert "-r requirements/hashed/bootstrap.txt" in installs[0]
    assert f"-c requirements/hashed/{group}.txt --group {group}" in installs[1]
    # The stage copies its own hashed file only (a change of another group's pins does not rebuild it).
    assert re.findall(r"^COPY requirements/\S+", stage, re.M) == [f"COPY requirements/hashed/{group}.txt"]
    # An sdist built with build isolation would fetch its build requirements unchecked.
    if any(e.group("file").endswith(".tar.gz") for e in entries(group)):
        assert "--no-build-isolation" in installs[1]
