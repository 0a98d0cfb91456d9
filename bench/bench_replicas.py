"""Env replicas: steps/s with one replica against two, the machine's own ceiling, and the memory
of live sessions.

    python -m bench.bench_replicas                         # all three parts (~15 min on 2 cores)
    python -m bench.bench_replicas --only throughput --rounds 5 --env-workers 1,0
    python -m bench.bench_replicas --only ceiling
    python -m bench.bench_replicas --only memory --live 256,1024

Throughput: 16 sessions, each stepping the same "go to …" moves (no step cap) over the 6 task
types' first generated_eval games, both replicas given the same games; stepped in lockstep (one
`alfagent_client.BatchEnv`, every batch step sending all 16 at once) and free-running (each
session on its own thread). One env replica, two replicas (the client placing slot i on replica
i mod 2), and the two through the agent's port (the agent places them), each replica of
`--env-workers` workers (0: the service plays the games itself). Every replica runs throughout and
the runs alternate round after round, so each ratio compares runs close in time; the machine's
busy cores are measured over each run.

Ceiling: the same sessions and moves played by plain worker states in one process, then half in
each of two processes at once: what two replicas could gain on this machine at most.

Memory: one replica of 2 workers; N sessions opened (games cycling over every generated_eval
game), the resident memory of the service and its workers (GetStats) before and with them live,
and the time of one batch step over all of them ("look", every session at once). The env keeps
its PDDL translations in ENV_TRANSLATION_CACHE (default ~/.cache/alfagent/translations), so the
time to open sessions depends on whether their games were translated before; the memory does not.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import psutil

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from env_service.games.catalog import Catalog
from env_service.games.names import TASK_TYPES
from env_service.protocol import Close, Reset, Step
from env_service.worker import WorkerState
from launcher.processes import REPO_ROOT, ServiceProcess, start_service

sys.path.insert(0, str(REPO_ROOT / "clients" / "python"))
from alfagent_client import AlfworldEnv, BatchEnv

# Steps every session takes before anything is timed: connections, each worker's first steps.
WARM_UP = 5


def _environ(**settings: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {**{k: v for k, v in os.environ.items() if k in keep}, **settings}


@contextmanager
def services(
    root: Path, replicas: int, workers: int, max_sessions: int, agent_over: int = 0
) -> Iterator[list[str]]:
    """Env replicas, and with `agent_over` a store and an agent whose ENV_ADDR names the last
    `agent_over` replicas; answers their addresses, the agent's last."""
    base = _environ(
        ENV_WORKERS=str(workers),
        ENV_MAX_SESSIONS=str(max_sessions),
        ENV_SESSION_TTL_SECONDS="3600",
        ENV_CATALOG_CACHE=str(root / "catalog.json"),
    )
    started: list[ServiceProcess] = []
    try:
        for index in range(replicas):
            started.append(
                start_service("env_service", port=0, log_path=root / f"env-{index}.log", environ=base)
            )
        for env in started:
            env.wait_serving()
        addresses = [env.address for env in started]
        if agent_over:
            store = start_service(
                "store_service",
                port=0,
                log_path=root / "store.log",
                environ={**base, "STORE_DIR": str(root / "s")},
            )
            started.append(store)
            store.wait_serving()
            front = start_service(
                "agent_service",
                port=0,
                log_path=root / "agent.log",
                environ={**base, "ENV_ADDR": ",".join(addresses[-agent_over:]), "STORE_ADDR": store.address},
            )
            started.append(front)
            front.wait_serving()
            addresses.append(front.address)
        yield addresses
    finally:
        for service in reversed(started):
            service.stop()


def first_games() -> list[str]:
    catalog = Catalog.from_roots([REPO_ROOT / "env_service" / "data"])
    return [catalog.select("generated_eval", task_type, 0).game_id for task_type in TASK_TYPES]


def all_games() -> list[str]:
    catalog = Catalog.from_roots([REPO_ROOT / "env_service" / "data"])
    return [game.game_id for game in catalog.games(split="generated_eval")]


def session_moves(info: dict[str, Any], steps: int) -> list[str]:
    """`steps` "go to" moves cycling over those the session's first room lists: the same
    sequence, so the same work, whatever the session is placed on."""
    moves = [c for c in info["admissible_commands"] if c.startswith("go to ")]
    return [moves[number % len(moves)] for number in range(steps)]


def slot_games(sessions: int) -> list[str]:
    # Slot i goes to replica i % 2 (fewest held, in turn): games[(i // 2) % 6] gives both
    # replicas the same games, so neither half waits on heavier games.
    games = first_games()
    return [games[(slot // 2) % len(games)] for slot in range(sessions)]


def lockstep_steps_per_second(address: str, sessions: int, steps_each: int) -> dict[str, float]:
    """Every session stepped at once, `steps_each` times: a batch step ends with its slowest answer."""
    # No step cap (max_steps=0): a capped session would finish and no longer be stepped.
    with BatchEnv(address, sessions, max_steps=0, timeout_seconds=600) as batch:
        _, infos = batch.reset(slot_games(sessions))
        moves = [session_moves(info, WARM_UP + steps_each) for info in infos]
        for number in range(WARM_UP):  # connections, first steps of each worker
            batch.step([moves[slot][number] for slot in range(sessions)])
        with cpu_window() as window:
            for number in range(WARM_UP, WARM_UP + steps_each):
                batch.step([moves[slot][number] for slot in range(sessions)])
        assert not batch.lost and not batch.finished, "every session must have been stepped every time"
    return window.figures(sessions * steps_each)


def free_steps_per_second(addresses: list[str], sessions: int, steps_each: int) -> dict[str, float]:
    """The same sessions and moves, each session stepping on its own thread as soon as its last
    step is answered (as an agent or an RL env worker does), none waiting for the others; slot i
    on replica i mod len(addresses) (through the agent: where the agent places it)."""
    games = slot_games(sessions)
    ready = threading.Barrier(sessions + 1)

    def play(slot: int) -> None:
        with AlfworldEnv(addresses[slot % len(addresses)], max_steps=0, timeout_seconds=600) as env:
            _, info = env.reset(options={"game_id": games[slot]})
            moves = session_moves(info, WARM_UP + steps_each)
            for action in moves[:WARM_UP]:
                env.step(action)
            ready.wait()
            ready.wait()  # the window opens
            for action in moves[WARM_UP:]:
                _, _, terminated, truncated, _ = env.step(action)
                assert not (terminated or truncated), "a session ended inside the window"

    with ThreadPoolExecutor(sessions) as pool:
        players = [pool.submit(play, slot) for slot in range(sessions)]
        ready.wait()
        with cpu_window() as window:
            ready.wait()
            for player in players:
                player.result()
    return window.figures(sessions * steps_each)


class CpuWindow:
    """Wall time, the whole machine's busy cores (2 here) and this client's share over a window."""

    def __init__(self) -> None:
        self.machine_before = _busy_seconds()
        self.client_before = time.process_time()
        self.began = time.perf_counter()
        self.elapsed = 0.0

    def end(self) -> None:
        self.elapsed = time.perf_counter() - self.began
        self.machine_cores = (_busy_seconds() - self.machine_before) / self.elapsed
        self.client_cores = (time.process_time() - self.client_before) / self.elapsed

    def figures(self, steps: int) -> dict[str, float]:
        return {
            "steps_per_second": round(steps / self.elapsed, 1),
            "seconds": round(self.elapsed, 2),
            "machine_cores_busy": round(self.machine_cores, 2),
            "client_cores_busy": round(self.client_cores, 2),
        }


@contextmanager
def cpu_window() -> Iterator[CpuWindow]:
    window = CpuWindow()
    yield window
    window.end()


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


@functools.cache
def worker_state(translations: str) -> WorkerState:
    """One per process, as in a worker: its envs are re-used from call to call."""
    return WorkerState(Path(translations))


def play_directly(games: list[str], steps_each: int, translations: str, start_at: float = 0.0) -> float:
    """Seconds this process takes to step a session on each of `games` `steps_each` times round-robin, in a
    worker's `WorkerState` with no gRPC and no pipe: what a replica's worker does, alone. The
    timed steps begin at `start_at` (time.time()), so that two processes step at the same time."""
    state = worker_state(translations)
    catalog = Catalog.from_roots([REPO_ROOT / "env_service" / "data"])
    moves = []
    sessions = len(games)
    for slot, game_id in enumerate(games):
        observation = state.reset(Reset(str(slot), str(catalog.get(game_id).path), False))
        moves.append(
            session_moves({"admissible_commands": observation.admissible_commands}, WARM_UP + steps_each)
        )
    for number in range(WARM_UP):
        for slot in range(sessions):
            state.step(Step(str(slot), moves[slot][number]))
    wait = start_at - time.time()
    if start_at and wait <= 0:
        raise RuntimeError("a process was not ready at the agreed start: give it more time")
    time.sleep(max(0.0, wait))
    began = time.perf_counter()
    for number in range(WARM_UP, WARM_UP + steps_each):
        for slot in range(sessions):
            state.step(Step(str(slot), moves[slot][number]))
    seconds = time.perf_counter() - began
    for slot in range(sessions):
        state.close(Close(str(slot)))
    return seconds


def machine_ceiling(sessions: int, steps_each: int, rounds: int) -> dict[str, Any]:
    """How much more two processes playing games get done than one on this machine, with no
    gRPC, no front process and no client: the most two one-worker replicas could gain here.
    All the sessions in one process, then half in each of two at the same time (as the replicas
    get them: slot i in process i mod 2), in turn."""
    games = slot_games(sessions)
    halves = [games[0::2], games[1::2]]
    context = multiprocessing.get_context("spawn")
    ratios = []
    with (
        tempfile.TemporaryDirectory(prefix="bench_replicas_") as tmp,
        ProcessPoolExecutor(2, mp_context=context) as pool,
    ):
        # Both processes warm (imports, translations) before anything counts.
        start_at = time.time() + 60
        list(pool.map(play_directly, halves, [1] * 2, [tmp] * 2, [start_at] * 2))
        for _ in range(rounds):
            one = pool.submit(play_directly, games, steps_each, tmp).result()
            start_at = time.time() + 10
            both = [pool.submit(play_directly, half, steps_each, tmp, start_at) for half in halves]
            ratios.append(one / max(process.result() for process in both))
    return {
        "rounds": rounds,
        "ratios": [round(r, 2) for r in ratios],
        "median_ratio": round(statistics.median(ratios), 2),
    }


def throughput(sessions: int, steps_each: int, workers: int, rounds: int) -> dict[str, Any]:
    """One replica against two, `workers` workers each (0: games in the service's process), each
    way of stepping the same work: lockstep batches and free-running sessions. All replicas run
    throughout (an idle one costs nothing); the measurements alternate, round after round, so
    that each ratio compares runs minutes apart at most on this noisy machine."""
    results: dict[str, Any] = {
        "sessions": sessions,
        "steps_each": steps_each,
        "env_workers": workers,
        "rounds": rounds,
        "load_average": os.getloadavg()[0],
    }
    runs: dict[str, list[dict[str, float]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench_replicas_") as tmp,
        services(Path(tmp), 3, workers, 256, agent_over=2) as [one, first, second, agent],
    ):
        ways: dict[str, Callable[[], dict[str, float]]] = {
            "lockstep_one_replica": lambda: lockstep_steps_per_second(one, sessions, steps_each),
            "lockstep_two_replicas": lambda: lockstep_steps_per_second(
                f"{first},{second}", sessions, steps_each
            ),
            "lockstep_two_replicas_via_agent": lambda: lockstep_steps_per_second(agent, sessions, steps_each),
            "free_one_replica": lambda: free_steps_per_second([one], sessions, steps_each),
            "free_two_replicas": lambda: free_steps_per_second([first, second], sessions, steps_each),
            "free_two_replicas_via_agent": lambda: free_steps_per_second([agent], sessions, steps_each),
        }
        for _ in range(rounds):
            for name, measure in ways.items():
                runs.setdefault(name, []).append(measure())
    results["runs"] = runs
    for name, measured in runs.items():
        results[name] = statistics.median(run["steps_per_second"] for run in measured)
    for mode in ("lockstep", "free"):
        ones = [run["steps_per_second"] for run in runs[f"{mode}_one_replica"]]
        for two in ("two_replicas", "two_replicas_via_agent"):
            twos = [run["steps_per_second"] for run in runs[f"{mode}_{two}"]]
            ratios = [b / a for a, b in zip(ones, twos, strict=True)]
            key = f"{mode}_ratio{two.removeprefix('two_replicas')}"
            results[key] = [round(r, 2) for r in ratios]
            results[f"{key}_median"] = round(statistics.median(ratios), 2)
    results["load_average_after"] = os.getloadavg()[0]
    return results


def rss(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        stats = env_pb2_grpc.EnvServiceStub(channel).GetStats(env_pb2.GetStatsRequest(), timeout=60)
        return int(stats.rss_bytes)


def memory(levels: list[int]) -> dict[str, Any]:
    games = all_games()
    results: dict[str, Any] = {"workers": 2, "load_average": os.getloadavg()[0], "levels": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench_replicas_") as tmp,
        services(Path(tmp), 1, 2, max(levels) + 16) as [env],
    ):
        baseline = rss(env)
        results["rss_idle_mb"] = round(baseline / 2**20, 1)
        batches: list[BatchEnv] = []
        opened = 0
        try:
            for level in sorted(levels):
                batch = BatchEnv(env, level - opened, timeout_seconds=3600)
                batches.append(batch)
                began = time.perf_counter()
                batch.reset([games[(opened + slot) % len(games)] for slot in range(level - opened)])
                reset_seconds = time.perf_counter() - began
                opened = level
                live_rss = rss(env)
                # Every live session stepped at once: each batch's step from its own thread.
                began = time.perf_counter()
                with ThreadPoolExecutor(len(batches)) as pool:
                    list(pool.map(lambda batch: batch.step(["look"] * batch.n), batches))
                step_seconds = time.perf_counter() - began
                results["levels"].append(
                    {
                        "live_sessions": level,
                        "rss_mb": round(live_rss / 2**20, 1),
                        "mb_per_session": round((live_rss - baseline) / level / 2**20, 2),
                        "seconds_to_open_these": round(reset_seconds, 1),
                        "batch_step_seconds": round(step_seconds, 2),
                        "batch_steps_per_second": round(level / step_seconds, 1),
                    }
                )
                print(json.dumps(results["levels"][-1]), flush=True)
        finally:
            for batch in batches:
                batch.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["ceiling", "throughput", "memory"])
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--steps-each", type=int, default=40, help="timed steps of every session")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the compared runs")
    parser.add_argument("--live", default="256,1024")
    parser.add_argument(
        "--env-workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 0],
        help="ENV_WORKERS of each replica in the throughput part, a list (0: games in the service's process)",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.only in (None, "ceiling"):
        results["ceiling"] = machine_ceiling(args.sessions, args.steps_each, args.rounds)
        print(json.dumps(results["ceiling"]), flush=True)
    if args.only in (None, "throughput"):
        results["throughput"] = []
        for workers in args.env_workers:
            results["throughput"].append(throughput(args.sessions, args.steps_each, workers, args.rounds))
            print(json.dumps(results["throughput"][-1]), flush=True)
    if args.only in (None, "memory"):
        results["memory"] = memory([int(n) for n in args.live.split(",")])
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
