"""Start a service exactly as its container does (`python -m <service>`) and wait until it serves.

Each service logs JSON lines to a file; the line with msg "serving" carries the bound port,
so a service started with PORT=0 tells us where it listens (and its metrics port, 0 when it
serves none). Services run in their own process group, so stopping one also stops the worker
processes it started.

A service started on a port the OS picks (port 0) serves no metrics unless `metrics_port` (or
METRICS_PORT in `environ`) names a port: tests and the demo start many services side by side,
which the fixed default metrics ports (9451-9453) would make collide.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class ServiceFailed(RuntimeError):
    """A service exited or did not report serving in time; the message quotes its log."""


@dataclass
class ServiceProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0
    # The port of its Prometheus metrics, once serving (0: none).
    metrics_port: int = 0

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def wait_serving(self, timeout_seconds: float = 120.0) -> int:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            serving = _serving_ports(self.log_path)
            if serving is not None:
                self.port, self.metrics_port = serving
                return self.port
            if self.process.poll() is not None:
                raise ServiceFailed(
                    f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            time.sleep(0.05)
        raise ServiceFailed(
            f"{self.name} did not start serving within {timeout_seconds:.0f}s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_seconds: float = 20.0) -> None:
        stop_process_group(self.process.pid, timeout_seconds)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)


def start_service(
    module: str, *, port: int, log_path: Path, environ: Mapping[str, str], metrics_port: int | None = None
) -> ServiceProcess:
    """`python -m module` on `port`; metrics on `metrics_port` (None: METRICS_PORT from `environ`,
    else the service's default, or none at all when `port` is 0)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**environ, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    if metrics_port is not None:
        env["METRICS_PORT"] = str(metrics_port)
    elif port == 0:
        env.setdefault("METRICS_PORT", "0")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return ServiceProcess(module, process, log_path)


def _serving_ports(log_path: Path) -> tuple[int, int] | None:
    """(port, metrics port) from the "serving" line, once it is there."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if '"serving"' not in line:
            continue
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("msg") == "serving":
                return int(entry["port"]), int(entry.get("metrics_port") or 0)
    return None


def stop_process_group(pid: int, timeout_seconds: float = 20.0) -> None:
    """SIGTERM the group (graceful stop), then SIGKILL whatever is left after the timeout."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # A zombie leader still counts as a member; reap it if it is our child.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields: state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
