"""Plays a batch of ALFWorld sessions with the expert plan, then with random admissible actions.

    pip install ./clients/python
    python clients/python/examples/play_batch.py --address localhost:50051 --n 32

`--address` takes the agent's port (the agent spreads sessions over its env replicas), one env
replica, `host:port,host:port`, or `dns:///env:50052`. Slot i plays game index i of the split.
"""

from __future__ import annotations

import argparse
import random
import time

from alfagent_client import BatchEnv


def play(address: str, n: int, policy: str, split: str, max_steps: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    with BatchEnv(address, n, split=split, max_steps=max_steps, with_expert_plan=policy == "expert") as batch:
        started = time.perf_counter()
        _, infos = batch.reset()
        reset_seconds = time.perf_counter() - started
        won = [False] * n
        steps = 0
        started = time.perf_counter()
        while len(batch.finished | batch.lost) < n:
            actions: list[str | None] = []
            for info in infos:
                if policy == "expert":
                    plan = info.get("expert_plan") or ["look"]
                    actions.append(plan[0])
                else:
                    actions.append(rng.choice(info["admissible_commands"]))
            live = n - len(batch.finished | batch.lost)
            _, _, terminated, _, infos = batch.step(actions)
            steps += live
            won = [w or t for w, t in zip(won, terminated, strict=True)]
        seconds = time.perf_counter() - started
        return {
            "sessions": n,
            "won": sum(won),
            "lost": len(batch.lost),
            "steps": steps,
            "reset_seconds": round(reset_seconds, 2),
            "steps_per_second": round(steps / seconds, 1) if seconds else 0.0,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--address", default="localhost:50051")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--split", default="generated_eval")
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for policy in ("expert", "random"):
        result = play(args.address, args.n, policy, args.split, args.max_steps, args.seed)
        print(policy, result, flush=True)


if __name__ == "__main__":
    main()
