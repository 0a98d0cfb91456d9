"""The compose stack under test, run by a real container engine: Docker where a daemon answers,
otherwise podman with podman-compose (tools/containers/podman-setup.sh installs and configures both).

The test stack is a compose project of its own (`alfagent-test`: its own containers and volumes)
publishing on 127.0.0.1:6205x, so it never clashes with a developer's `docker compose up` or
`make up` on the binding ports.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from alfagent_common.healthcheck import check
from llm_service.healthcheck import healthy

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "alfagent-test"
PORTS = {"agent": 62051, "env": 62052, "store": 62053, "llm": 62080}
# The image compose runs for each service (its `image:`), built from the root Dockerfile's target.
IMAGES = {name: f"alfagent-{name}" for name in ("env", "store", "agent", "llm")}
# What tools/containers/podman-setup.sh writes; used when the caller's shell did not source it.
PODMAN_CONF = Path("/etc/alfagent-containers/containers.conf")
PODMAN_COMPOSE_BIN = Path("/opt/podman-compose/bin")


class EngineMissing(RuntimeError):
    """No container engine that can run the images here; the message says what is missing."""


def _run(args: list[str], environ: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout)


@dataclass
class Engine:
    name: str  # "docker" or "podman"
    compose_command: list[str]
    environ: dict[str, str] = field(repr=False)
    # The compose project: its containers, networks and volumes are named after it.
    project: str = PROJECT

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = _run([self.name, *args], self.environ, timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def compose(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [*self.compose_command, "-p", self.project, "-f", "docker-compose.yml", *args]
        result = _run(command, self.environ, timeout)
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def image_exists(self, image: str) -> bool:
        return self.run("image", "inspect", image, check=False).returncode == 0

    def container(self, service: str) -> str:
        """The running (or stopped) container of a compose service of the test project."""
        result = self.run(
            "ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}",
            "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.ID}}",
        )  # fmt: skip
        ids = result.stdout.split()
        if len(ids) != 1:
            raise RuntimeError(f"expected one container for {service}, found {ids}")
        return ids[0]

    def inspect(self, container: str) -> dict[str, object]:
        found: list[dict[str, object]] = json.loads(self.run("inspect", container).stdout)
        return found[0]

    def main_pid(self, service: str) -> int:
        state = self.inspect(self.container(service))["State"]
        assert isinstance(state, dict)
        return int(state["Pid"])

    def volume_path(self, volume: str) -> Path:
        """Where a named volume of the test project lives on this host."""
        found = json.loads(self.run("volume", "inspect", f"{self.project}_{volume}").stdout)
        return Path(found[0]["Mountpoint"])


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def find_engine() -> Engine:
    environ = dict(os.environ)
    docker_runs = shutil.which("docker") and _run(["docker", "info"], environ, 30).returncode == 0
    if docker_runs and _run(["docker", "compose", "version"], environ, 30).returncode == 0:
        return Engine("docker", ["docker", "compose"], environ)
    if not shutil.which("podman"):
        raise EngineMissing(
            "no container engine: no Docker daemon answers and podman is not installed "
            "(tools/containers/podman-setup.sh installs podman, runc and podman-compose)"
        )
    if "CONTAINERS_CONF" not in environ and PODMAN_CONF.exists():
        environ["CONTAINERS_CONF"] = str(PODMAN_CONF)
    environ.setdefault("BUILDAH_FORMAT", "docker")
    environ["PATH"] = f"{PODMAN_COMPOSE_BIN}{os.pathsep}{environ.get('PATH', '')}"
    if not shutil.which("podman-compose", path=environ["PATH"]):
        raise EngineMissing(
            "podman is installed but podman-compose is not (tools/containers/podman-setup.sh)"
        )
    if _run(["podman", "info"], environ, 60).returncode != 0:
        raise EngineMissing("podman does not run here; configure it with tools/containers/podman-setup.sh")
    return Engine("podman", ["podman-compose"], environ)


@dataclass
class ComposeStack:
    engine: Engine
    # Where each service is published on 127.0.0.1.
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))
    # The key the llm requires of its callers (LLM_API_KEY), and the agent sends (OPENAI_API_KEY).
    llm_api_key: str = "alfagent-test-stack-llm-key"

    @property
    def environ(self) -> dict[str, str]:
        published = {f"{name.upper()}_PUBLISH": f"127.0.0.1:{port}" for name, port in self.ports.items()}
        return {**published, "LLM_API_KEY": self.llm_api_key, "OPENAI_API_KEY": self.llm_api_key}

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def build_missing_images(self) -> None:
        """`make images` builds them ahead; whatever is missing is built now (minutes, not seconds)."""
        for target, image in IMAGES.items():
            if not self.engine.image_exists(image):
                self.engine.run("build", "--target", target, "-t", image, ".", timeout=3600)

    def up(self) -> None:
        deadline = time.monotonic() + 15  # what a `down` just stopped may hold a moment longer
        while (busy := [port for port in self.ports.values() if not _port_is_free(port)]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.5)
        if busy:
            raise RuntimeError(
                f"ports {busy} on 127.0.0.1 are taken (a leftover stack? `ss -ltnp` names the holder)"
            )
        self.engine.environ.update(self.environ)
        self.engine.compose("up", "-d")

    def down(self, *, volumes: bool = False) -> None:
        self.engine.compose("down", *(["-v"] if volumes else []), timeout=300)

    def serves(self, service: str) -> bool:
        """What the service's HEALTHCHECK asks, asked from the host on its published port."""
        if service == "llm":
            return healthy(self.address(service), timeout_seconds=2)
        return check(self.address(service), timeout_seconds=2)

    def wait_healthy(self, services: tuple[str, ...] = (), timeout: float = 300) -> None:
        """Until every service (all by default) answers SERVING on its published port (what its
        HEALTHCHECK runs)."""
        deadline = time.monotonic() + timeout
        pending = list(services or self.ports)
        while pending and time.monotonic() < deadline:
            pending = [name for name in pending if not self.serves(name)]
            if pending:
                time.sleep(1)
        if pending:
            logs = {name: self.logs(name) for name in pending}
            raise RuntimeError(f"not SERVING after {timeout:.0f} s: {pending}\n{logs}")

    def health(self, service: str) -> str:
        """What the engine's own health check says: 'healthy' or 'unhealthy' (runs it once now)."""
        container = self.engine.container(service)
        if self.engine.name == "podman":
            # podman 4.3 schedules health checks with systemd timers, absent here: run it directly.
            result = self.engine.run("healthcheck", "run", container, check=False)
            return "healthy" if result.returncode == 0 else "unhealthy"
        state = self.engine.inspect(container)["State"]
        assert isinstance(state, dict)
        return str(state["Health"]["Status"])

    def logs(self, service: str) -> str:
        result = self.engine.run("logs", "--tail", "40", self.engine.container(service), check=False)
        return result.stdout + result.stderr


def engine_or_skip() -> Engine:
    """The engine, or the test skipped with the reason (failed with ALFAGENT_REQUIRE_CONTAINERS=1,
    as CI sets it, so a missing engine never passes for a green run)."""
    import pytest  # only tests call this; the bench uses find_engine

    try:
        return find_engine()
    except EngineMissing as missing:
        if os.environ.get("ALFAGENT_REQUIRE_CONTAINERS") == "1":
            pytest.fail(f"ALFAGENT_REQUIRE_CONTAINERS=1 but {missing}")
        pytest.skip(str(missing))
