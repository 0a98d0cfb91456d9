"""Ways to run the store for tests: as the real process, or in-process on a thread; plus samples.

`StoreProcess` runs `python -m store_service` exactly as a container would, with PORT=0, a temp
STORE_DIR and a scrubbed environment, and learns its port from the "serving" JSON log line.
`InProcessStore` runs the same servicer, errors translated alike, on a free port in a thread with its own
event loop, so tests stay plain synchronous functions in both cases.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import grpc

from alfagent.store.v1 import store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common.grpc_errors import with_domain_errors
from store_service import records
from store_service.log import TrajectoryLog
from store_service.records import RecordMeta
from store_service.server import SERVICE
from store_service.servicer import StoreServicer
from store_service.skill_libraries import SkillLibraryLog

REPO = Path(__file__).resolve().parents[2]
# Only what a process needs to run; nothing from the developer's shell leaks into the service.
_KEPT_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


class StoreProcess:
    def __init__(self, store_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.store_dir = store_dir
        self.env = {name: os.environ[name] for name in _KEPT_VARIABLES if name in os.environ}
        # METRICS_PORT=0: stores run side by side here; the default metrics port would collide.
        self.env.update(
            {
                "PORT": "0",
                "HOST": "127.0.0.1",
                "METRICS_PORT": "0",
                "STORE_DIR": str(store_dir),
                **(env or {}),
            }
        )
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self.log_lines: list[str] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> StoreProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "store_service"],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = threading.Event()
        threading.Thread(target=self._read_log, args=(ready,), daemon=True).start()
        if not ready.wait(timeout) or not self.port:
            self.kill()
            raise RuntimeError("store did not report 'serving':\n" + "".join(self.log_lines[-20:]))
        return self

    def _read_log(self, ready: threading.Event) -> None:
        assert self.process is not None and self.process.stderr is not None
        # Closed once the store has exited (end of its stderr): the pipe is this thread's alone.
        with self.process.stderr as stderr:
            for line in stderr:
                self.log_lines.append(line)
                if not ready.is_set():
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("msg") == "serving":
                        self.port = int(entry["port"])
                        ready.set()
        ready.set()

    def logged(self, message: str) -> list[dict[str, object]]:
        entries = []
        for line in self.log_lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == message:
                entries.append(entry)
        return entries

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.wait()

    def terminate(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def __enter__(self) -> StoreProcess:
        return self.start() if self.process is None else self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.terminate()


class InProcessStore:
    """The servicer (with domain errors translated), the log, on a free port, in a thread."""

    def __init__(self, store_dir: Path, *, segment_bytes: int = 1 << 20, max_trajectory_bytes: int = 1 << 20):
        self.store_dir = store_dir
        self.log = TrajectoryLog(store_dir, segment_bytes=segment_bytes, max_line_bytes=max_trajectory_bytes)
        self.libraries = SkillLibraryLog(store_dir, segment_bytes=segment_bytes, max_line_bytes=1 << 24)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> InProcessStore:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    async def _start(self) -> None:
        await self.log.open()
        await self.libraries.open()
        self._server = grpc.aio.server()
        servicer = StoreServicer(self.log, self.libraries)
        store_pb2_grpc.add_StoreServiceServicer_to_server(with_domain_errors(servicer, SERVICE), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()

    async def _stop(self) -> None:
        assert self._server is not None
        await self._server.stop(5)
        await self.log.close()
        await self.libraries.close()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def appendable(trajectory: trajectory_pb2.Trajectory) -> tuple[bytes, RecordMeta]:
    """What `TrajectoryLog.append` takes: the serialized trajectory and its index metadata."""
    return trajectory.SerializeToString(), records.meta_of(trajectory)


def sample_trajectory(
    trajectory_id: str,
    *,
    run_id: str = "run-1",
    task_type: str = "pick_and_place_simple",
    won: bool = True,
    steps: int = 3,
    observation: str = "On the desk 1, you see a pencil 1, a pen 2, and a book 3.",
    admissible: int = 5,
) -> trajectory_pb2.Trajectory:
    """A realistic trajectory; about 10 kB with steps=10, admissible=15."""
    trajectory = trajectory_pb2.Trajectory(
        trajectory_id=trajectory_id,
        run_id=run_id,
        policy=trajectory_pb2.LLM,
        model="test-model",
        won=won,
        end_reason=trajectory_pb2.WON if won else trajectory_pb2.STEP_LIMIT,
        goal_progress=1.0 if won else 0.5,
        initial_observation="You are in the middle of a room. Looking quickly around you, you see a desk 1 "
        "and a shelf 1.\n\nYour task is to: put a pencil in shelf.",
    )
    trajectory.game.game_id = f"valid_unseen/{task_type}-Pencil-None-Shelf-308/trial_T20190908_1"
    trajectory.game.split = "valid_unseen"
    trajectory.game.task_type = task_type
    trajectory.game.task = "put a pencil in shelf."
    trajectory.game.source = trajectory_pb2.GENERATED
    trajectory.started_at.FromSeconds(1_790_000_000)
    trajectory.finished_at.FromSeconds(1_790_000_042)
    trajectory.usage.prompt_tokens = 1000 * steps
    trajectory.usage.completion_tokens = 20 * steps
    trajectory.versions.alfagent = "0.1.0"
    for index in range(steps):
        step = trajectory.steps.add(
            index=index,
            thought="The pencil is probably on the desk.",
            action=f"go to desk {index + 1}",
            raw_output=f"think: The pencil is probably on the desk.\n> go to desk {index + 1}",
            observation=observation,
            won=won and index == steps - 1,
            done=index == steps - 1,
            latency_ms=812.5,
            grounding="exact",
            admissible=True,
        )
        step.usage.prompt_tokens = 1000
        step.usage.completion_tokens = 20
        step.admissible_commands.extend(f"go to drawer {n}" for n in range(1, admissible + 1))
    return trajectory
