"""env_service against plain upstream ALFWorld in-process: step, reset, memory, parallelism.

    python -m bench.bench_env            # all four measurements (a few minutes)
    python -m bench.bench_env --cycles 200 --parallel-seconds 5   # quicker

Same games (generated_eval, index 0 of every task type) and the same action sequences on both
sides. Upstream runs in its own process (bench/upstream_alfworld.py); env_service runs as a real
process and is measured through gRPC from this one, so its figures include the RPC.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from env_service.games.catalog import Catalog, GameInfo
from env_service.games.names import TASK_TYPES
from launcher.processes import REPO_ROOT, ServiceProcess, start_service

PROBES = ["look", "inventory", "fly to the moon"]
UPSTREAM_RESETS = 3


def games() -> list[tuple[GameInfo, list[str]]]:
    catalog = Catalog.from_roots([REPO_ROOT / "env_service" / "data"])
    chosen = []
    for task_type in TASK_TYPES:
        game = catalog.select("generated_eval", task_type, 0)
        chosen.append((game, [*PROBES, *json.loads(game.path.read_text())["walkthrough"]]))
    return chosen


def upstream(game: GameInfo, actions: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.upstream_alfworld", str(game.path), json.dumps(actions)]
    result = subprocess.run(
        [*command, str(UPSTREAM_RESETS)], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def start_env(log_dir: Path, workers: int) -> ServiceProcess:
    service = start_service(
        "env_service",
        port=0,
        log_path=log_dir / f"env_service_{workers}w.log",
        environ={"PATH": "/usr/bin:/bin", "ENV_WORKERS": str(workers), "ENV_MAX_SESSIONS": "256"},
    )
    service.wait_serving()
    return service


def timed(call: Any, request: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    response = call(request, timeout=300)
    return response, time.perf_counter() - started


def step_and_reset(
    env: env_pb2_grpc.EnvServiceStub, chosen: list[tuple[GameInfo, list[str]]]
) -> dict[str, Any]:
    ours_steps: list[float] = []
    ours_seen_resets: list[float] = []
    up_steps: list[float] = []
    up_seen_resets: list[float] = []
    for game, actions in chosen:
        report = upstream(game, actions)
        up_steps += report["step_seconds"]
        # Resets after the first: the same game again, as a worker that has seen it does.
        up_seen_resets += report["reset_seconds"][1:]
        for attempt in range(UPSTREAM_RESETS):
            reset, seconds = timed(env.Reset, env_pb2.ResetRequest(game_id=game.game_id))
            if attempt:
                ours_seen_resets.append(seconds)
            if attempt < UPSTREAM_RESETS - 1:
                env.Close(env_pb2.CloseRequest(session_id=reset.session_id))
        for action in actions:
            _, seconds = timed(env.Step, env_pb2.StepRequest(session_id=reset.session_id, action=action))
            ours_steps.append(seconds)
        env.Close(env_pb2.CloseRequest(session_id=reset.session_id))
    return {
        "steps": len(ours_steps),
        "upstream_step_median_ms": statistics.median(up_steps) * 1000,
        "grpc_step_median_ms": statistics.median(ours_steps) * 1000,
        "step_ratio": statistics.median(ours_steps) / statistics.median(up_steps),
        "upstream_seen_reset_median_ms": statistics.median(up_seen_resets) * 1000,
        "grpc_seen_reset_median_ms": statistics.median(ours_seen_resets) * 1000,
        "seen_reset_ratio": statistics.median(ours_seen_resets) / statistics.median(up_seen_resets),
    }


def memory(
    env: env_pb2_grpc.EnvServiceStub, chosen: list[tuple[GameInfo, list[str]]], cycles: int
) -> dict[str, Any]:
    def cycle(game: GameInfo) -> None:
        reset = env.Reset(env_pb2.ResetRequest(game_id=game.game_id), timeout=300)
        env.Step(env_pb2.StepRequest(session_id=reset.session_id, action="look"), timeout=300)
        env.Close(env_pb2.CloseRequest(session_id=reset.session_id), timeout=300)

    for game, _ in chosen:  # warm: every game seen once, every cache filled once
        cycle(game)
    before = env.GetStats(env_pb2.GetStatsRequest()).rss_bytes
    started = time.perf_counter()
    for number in range(cycles):
        cycle(chosen[number % len(chosen)][0])
    after = env.GetStats(env_pb2.GetStatsRequest()).rss_bytes
    return {
        "cycles": cycles,
        "rss_before_mb": before / 2**20,
        "rss_after_mb": after / 2**20,
        "rss_growth_percent": (after - before) / before * 100,
        "seconds": time.perf_counter() - started,
    }


def steps_per_second(
    address: str, chosen: list[tuple[GameInfo, list[str]]], sessions: int, seconds: float
) -> float:
    """Steps per second over `seconds`, with `sessions` clients stepping their own sessions at once.

    Each client walks between the receptacles its game offers ("go to ..."): real steps with full
    observations and admissible commands that never end the game, so only steps are timed (no
    resets, whose first time on a worker includes translating the game). Throughput is counted
    over a fixed time window: clients of a worker with cheaper games simply take more steps.
    """
    # Sessions are opened one after another, so placement alternates between workers the same
    # way on every run; then all clients step at once.
    with grpc.insecure_channel(address) as channel:
        env = env_pb2_grpc.EnvServiceStub(channel)
        opened = [
            env.Reset(env_pb2.ResetRequest(game_id=chosen[number % len(chosen)][0].game_id), timeout=300)
            for number in range(sessions)
        ]
    start = threading.Barrier(sessions + 1)
    stop = threading.Event()
    counts = [0] * sessions
    errors: list[BaseException] = []

    def client(number: int) -> None:
        try:
            with grpc.insecure_channel(address) as channel:
                env = env_pb2_grpc.EnvServiceStub(channel)
                reset = opened[number]
                moves = [command for command in reset.admissible_commands if command.startswith("go to ")]
                start.wait()
                while not stop.is_set():
                    action = moves[counts[number] % len(moves)]
                    env.Step(env_pb2.StepRequest(session_id=reset.session_id, action=action), timeout=300)
                    counts[number] += 1
                env.Close(env_pb2.CloseRequest(session_id=reset.session_id), timeout=300)
        except BaseException as error:
            errors.append(error)
            start.abort()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(sessions)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    # Steps still in flight when the window closes finish after it; count the time they take.
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--parallel-sessions", type=int, default=8)
    parser.add_argument("--parallel-seconds", type=float, default=20.0)
    args = parser.parse_args()
    chosen = games()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as logs:
        one = start_env(Path(logs), workers=1)
        try:
            with grpc.insecure_channel(one.address) as channel:
                env = env_pb2_grpc.EnvServiceStub(channel)
                results["step_and_reset"] = step_and_reset(env, chosen)
                results["memory"] = memory(env, chosen, args.cycles)
            one_worker = steps_per_second(one.address, chosen, args.parallel_sessions, args.parallel_seconds)
        finally:
            one.stop()
        two = start_env(Path(logs), workers=2)
        try:
            two_workers = steps_per_second(two.address, chosen, args.parallel_sessions, args.parallel_seconds)
        finally:
            two.stop()
    results["parallel"] = {
        "sessions": args.parallel_sessions,
        "seconds": args.parallel_seconds,
        "one_worker_steps_per_second": one_worker,
        "two_workers_steps_per_second": two_workers,
        "speedup": two_workers / one_worker,
    }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
