"""Resets with the PDDL→SAS translations kept on disk: first-ever, first after a restart, repeated.

    python -m bench.bench_translations            # 12 games (2 of each task type), ~2 minutes

One env process (one worker, so every reset meets the same worker) with an empty translation
directory resets each game once (first-ever: parse and translate), again after a Close
(repeated: this worker has seen it), then the process is stopped and a new one started on the
same directory resets each game once more (first after a restart: the translation is read from
disk, the worker's other caches are cold). Upstream is plain alfworld/textworld in its own process
(bench/upstream_alfworld.py): `load` + `reset` of each game three times, the median taken. The
env's resets are measured through gRPC from this process, so they include the RPC.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import grpc

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from bench.bench_env import timed, upstream
from env_service.games.catalog import Catalog, GameInfo
from env_service.games.names import TASK_TYPES
from launcher.processes import REPO_ROOT, ServiceProcess, start_service


def chosen_games(per_type: int) -> list[GameInfo]:
    catalog = Catalog.from_roots([REPO_ROOT / "env_service" / "data"])
    return [
        catalog.select("generated_eval", task_type, index)
        for task_type in TASK_TYPES
        for index in range(per_type)
    ]


def start_env(log_path: Path, translations: Path) -> ServiceProcess:
    service = start_service(
        "env_service",
        port=0,
        log_path=log_path,
        environ={"PATH": "/usr/bin:/bin", "ENV_WORKERS": "1", "ENV_TRANSLATION_CACHE": str(translations)},
    )
    service.wait_serving()
    return service


def reset_each(env: env_pb2_grpc.EnvServiceStub, games: list[GameInfo]) -> list[float]:
    seconds = []
    for game in games:
        reset, took = timed(env.Reset, env_pb2.ResetRequest(game_id=game.game_id))
        env.Close(env_pb2.CloseRequest(session_id=reset.session_id))
        seconds.append(took)
    return seconds


def measure(games: list[GameInfo], work: Path) -> dict[str, Any]:
    translations = work / "translations"
    phases: dict[str, list[float]] = {}
    env = start_env(work / "env-1.log", translations)
    try:
        with grpc.insecure_channel(env.address) as channel:
            stub = env_pb2_grpc.EnvServiceStub(channel)
            phases["first_ever"] = reset_each(stub, games)
            phases["repeated"] = reset_each(stub, games)
    finally:
        env.stop()
    env = start_env(work / "env-2.log", translations)
    try:
        with grpc.insecure_channel(env.address) as channel:
            phases["first_after_restart"] = reset_each(env_pb2_grpc.EnvServiceStub(channel), games)
    finally:
        env.stop()
    upstream_resets = [seconds for game in games for seconds in upstream(game, [])["reset_seconds"]]
    upstream_median = statistics.median(upstream_resets)
    result: dict[str, Any] = {
        "games": len(games),
        "translation_files": len(list(translations.glob("*.sas"))),
        "upstream_reset_median_ms": upstream_median * 1000,
    }
    for phase, seconds in phases.items():
        result[f"{phase}_median_ms"] = statistics.median(seconds) * 1000
        result[f"{phase}_max_ms"] = max(seconds) * 1000
        result[f"{phase}_ratio"] = statistics.median(seconds) / upstream_median
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-type", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-translations-") as work:
        result = measure(chosen_games(args.per_type), Path(work))
    print(json.dumps(result, indent=2))
    rows = ["| reset | median ms | max ms | of upstream's reset |", "|---|---|---|---|"]
    for phase in ("first_ever", "first_after_restart", "repeated"):
        median, most = result[f"{phase}_median_ms"], result[f"{phase}_max_ms"]
        rows.append(
            f"| {phase.replace('_', ' ')} | {median:.0f} | {most:.0f} | {result[f'{phase}_ratio']:.3f}x |"
        )
    rows.append(f"| upstream (load + reset) | {result['upstream_reset_median_ms']:.0f} | | 1x |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
