"""A skill library made the way the benchmark's runs use it: the expert plays every game of a
training split through the services, and `skills extract` makes a library of those trajectories,
in the bench store (var/bench-llm/store), where `bench_llm play --skill-library ID` finds it.

    python -m bench.skill_library --run-id train-expert            # every generated_train game
    python -m bench.skill_library --run-id train-expert --kinds demonstrations

The expert run is resumable like any evaluation (the same run id plays only what is missing), and
extraction is deterministic: the same runs give the same library id. Its last line is the
extraction's own JSON line (with "library_id").
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from alfagent.agent.v1 import agent_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from bench.bench_agent import stack_environ
from bench.bench_llm import ROOT, STORE_DIR, run_evaluation
from launcher.stack import start_stack

TRAIN_SPLIT = "generated_train"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run-id", default="train-expert", help="the expert run (resumed if stored)")
    parser.add_argument("--split", default=TRAIN_SPLIT)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--kinds", default="", help="what the library holds (skills extract --kinds); default all"
    )
    args = parser.parse_args(argv)
    run_dir = ROOT / "logs" / args.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    STORE_DIR.mkdir(parents=True, exist_ok=True)
    stack = start_stack(run_dir=run_dir, store_dir=STORE_DIR, environ=stack_environ())
    try:
        request = agent_pb2.RunEvaluationRequest(
            split=args.split, concurrency=args.concurrency, policy=trajectory_pb2.EXPERT, run_id=args.run_id
        )
        summary = run_evaluation(stack.agent.address, request)
        print(
            f"{args.run_id}: {summary.overall.wins}/{summary.overall.episodes} won by the expert", flush=True
        )
        command = [sys.executable, "-m", "agent_service", "skills", "extract", "--run-id", args.run_id]
        command += ["--store", stack.store.address]
        if args.kinds:
            command += ["--kinds", args.kinds]
        extracted = subprocess.run(command, check=True, capture_output=True, text=True)
    finally:
        stack.stop()
    print(extracted.stdout, end="", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
