"""Env replicas: batch steps/s with one replica against two, and the memory of live sessions.

    python -m bench.bench_replicas                         # both parts (~10 min on 2 cores)
    python -m bench.bench_replicas --only throughput --seconds 10
    python -m bench.bench_replicas --only memory --live 256,1024

Throughput: 16 sessions in one `alfagent_client.BatchEnv`, every batch step sending all 16 steps at
once, against one env replica of one worker, then two replicas of one worker each (the client
places 8 sessions on each), then the same two replicas through the agent's port (the agent places
them). Steps are "go to …" moves that never end a game (no step cap), over the 6 task types'
first generated_eval games, both replicas given the same games; only steps are timed, over a
fixed window, after a warm-up, with the machine's busy cores over that window.

Memory: one replica of 2 workers; N sessions opened (games cycling over every generated_eval
game), the resident memory of the service and its workers (GetStats) before and with them live,
and the time of one batch step over all of them ("look", every session at once). The env keeps
its PDDL translations in ENV_TRANSLATION_CACHE (default ~/.cache/alfagent/translations), so the
time to open sessions depends on whether their games were translated before; the memory does not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import psutil

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from env_service.games.catalog import Catalog
from env_service.games.names import TASK_TYPES
from launcher.processes import REPO_ROOT, ServiceProcess, start_service

sys.path.insert(0, str(REPO_ROOT / "clients" / "python"))
from alfagent_client import BatchEnv


def _environ(**settings: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {**{k: v for k, v in os.environ.items() if k in keep}, **settings}


@contextmanager
def services(root: Path, replicas: int, workers: int, max_sessions: int, agent: bool) -> Iterator[list[str]]:
    """Env replicas (and a store and an agent, with `agent`); answers their addresses, agent last."""
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
        if agent:
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
                environ={**base, "ENV_ADDR": ",".join(addresses), "STORE_ADDR": store.address},
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


def batch_steps_per_second(address: str, sessions: int, seconds: float) -> dict[str, float]:
    games = first_games()
    # No step cap (max_steps=0): a capped session would finish and no longer be stepped.
    with BatchEnv(address, sessions, max_steps=0, timeout_seconds=600) as batch:
        # Slot i goes to replica i % 2 (fewest held, in turn): games[(i // 2) % 6] gives both
        # replicas the same games, so neither half of a lockstep batch waits on heavier games.
        _, infos = batch.reset([games[(slot // 2) % len(games)] for slot in range(sessions)])
        moves = [[c for c in info["admissible_commands"] if c.startswith("go to ")] for info in infos]
        count = 0

        def step() -> None:
            nonlocal count
            batch.step([moves[slot][count % len(moves[slot])] for slot in range(sessions)])
            count += 1

        for _ in range(5):  # warm-up: connections, first steps of each worker
            step()
        # Where the CPU goes: the whole machine's busy cores (2 here) and this client's share.
        machine_before = _busy_seconds()
        client_before = time.process_time()
        began = time.perf_counter()
        steps = 0
        while time.perf_counter() - began < seconds:
            step()
            steps += sessions
        elapsed = time.perf_counter() - began
        machine_cores = (_busy_seconds() - machine_before) / elapsed
        client_cores = (time.process_time() - client_before) / elapsed
        assert not batch.lost and not batch.finished, "every session must have been stepped every time"
    return {
        "steps_per_second": round(steps / elapsed, 1),
        "batch_steps": steps // sessions,
        "machine_cores_busy": round(machine_cores, 2),
        "client_cores_busy": round(client_cores, 2),
    }


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def throughput(sessions: int, seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {"sessions": sessions, "seconds": seconds, "load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench_replicas_") as tmp:
        with services(Path(tmp), 1, 1, 256, agent=False) as [one]:
            results["one_replica"] = batch_steps_per_second(one, sessions, seconds)
        with services(Path(tmp), 2, 1, 256, agent=True) as [first, second, agent]:
            results["two_replicas"] = batch_steps_per_second(f"{first},{second}", sessions, seconds)
            results["two_replicas_via_agent"] = batch_steps_per_second(agent, sessions, seconds)
    one_rate = results["one_replica"]["steps_per_second"]
    results["ratio"] = round(results["two_replicas"]["steps_per_second"] / one_rate, 2)
    results["ratio_via_agent"] = round(results["two_replicas_via_agent"]["steps_per_second"] / one_rate, 2)
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
        services(Path(tmp), 1, 2, max(levels) + 16, agent=False) as [env],
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
    parser.add_argument("--only", choices=["throughput", "memory"])
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--live", default="256,1024")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.only in (None, "throughput"):
        results["throughput"] = throughput(args.sessions, args.seconds)
        print(json.dumps(results["throughput"]), flush=True)
    if args.only in (None, "memory"):
        results["memory"] = memory([int(n) for n in args.live.split(",")])
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
