"""What the container images cost: a first build, a rebuild after a code change, the stack to healthy.

    python -m bench.bench_containers            # warm: builds on the engine's existing layer cache
    python -m bench.bench_containers --cold     # from an empty cache

Runs with the engine tests/containers/engine.py finds (Docker where a daemon answers, else podman
configured by tools/containers/podman-setup.sh). A cold build starts with nothing of ours cached
but the base image (`python:3.11…-slim`), as a first build after pulling it would: the project's
images are removed and every unused image and build layer pruned (run it on a machine where
nothing else needs them). Its stack is a compose project of its own on ports of its own. The
rebuild builds from a copy of the tree in which one line of agent_service/__init__.py changed, as
a code edit would.
Prints the seconds of each step and each image's size; the figures go in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.containers.engine import IMAGES, PORTS, ROOT, ComposeStack, Engine, EngineMissing, find_engine

KEEPER = "alfagent-bench-keep-base"


def base_image() -> str:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ARG PYTHON_IMAGE="):
            return line.split("=", 1)[1]
    raise RuntimeError("the Dockerfile names no PYTHON_IMAGE")


def clear_cache(engine: Engine) -> None:
    """Every image and build layer of the engine's, except the base image.

    (A cold build in a throwaway podman storage was tried: its clean-up with `podman system reset`
    left the main storage's running containers orphaned, with their port forwarding rules.)"""
    engine.run("rm", "-f", KEEPER, check=False)
    # A (stopped) container of the base image keeps the prune from removing it.
    engine.run("create", "--name", KEEPER, base_image(), "true")
    for image in IMAGES.values():
        engine.run("rmi", "-f", image, check=False)
    engine.run("image", "prune", "-a", "-f", timeout=600)
    if engine.name == "docker":
        engine.run("builder", "prune", "-a", "-f", timeout=600)
    engine.run("rm", "-f", KEEPER, check=False)


def build_all(engine: Engine, context: Path, label: str) -> dict[str, float]:
    seconds = {}
    for target, image in IMAGES.items():
        started = time.monotonic()
        engine.run("build", "--target", target, "-t", image, str(context), timeout=3600)
        seconds[target] = time.monotonic() - started
        print(f"{label}, {target}: {seconds[target]:.0f} s", flush=True)
    print(f"{label}, all images: {sum(seconds.values()):.0f} s", flush=True)
    return seconds


def edited_copy(into: Path) -> Path:
    """The tree as `git ls-files` has it, with one line of agent code changed."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in files.stdout.splitlines():
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    init = into / "agent_service" / "__init__.py"
    init.write_text(init.read_text() + f"# edited by bench_containers at {time.time()}\n")
    return into


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="remove the images and the build cache first")
    args = parser.parse_args()
    try:
        engine = find_engine()
    except EngineMissing as missing:
        print(f"skipped: {missing}")
        return
    print(f"engine: {engine.name}")
    if args.cold:
        clear_cache(engine)
    measure(engine, cold=args.cold)


def measure(engine: Engine, *, cold: bool) -> None:
    build_all(engine, ROOT, "cold build" if cold else "warm build")

    # A project and ports of its own, so that it may run beside the container tests' stack.
    engine.project = "alfagent-bench"
    stack = ComposeStack(engine, {name: port + 1000 for name, port in PORTS.items()})
    stack.down(volumes=True)
    started = time.monotonic()
    stack.up()
    stack.wait_healthy()
    print(f"compose up to all services SERVING: {time.monotonic() - started:.0f} s", flush=True)
    stack.down(volumes=True)

    with tempfile.TemporaryDirectory(prefix="alfagent-bench-") as work:
        build_all(engine, edited_copy(Path(work)), "rebuild after a code change")
    # Leave the images built from the real tree, not from the edited copy.
    build_all(engine, ROOT, "rebuild from the real tree")

    for image in IMAGES.values():
        size = int(engine.run("image", "inspect", image, "--format", "{{.Size}}").stdout.strip())
        print(f"image {image}: {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
