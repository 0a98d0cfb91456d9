"""env_service's expert plan after a deviation: the whole problem against the reduced one.

    python -m bench.bench_replan             # the figures in bench/RESULTS.md (~2 minutes)
    python -m bench.bench_replan --games 1   # one game per task type, and the big kitchen

For generated_eval games of every task type, and the big kitchen below, the benchmark plays two
moves of the walkthrough, then goes somewhere else, and times from that state, each in a forked
copy of the game as the env runs them: textworld's planner on the whole problem (capped at
`--cap` seconds), the planner on the reduced problem (env_service/reduced.py) with the check that
its plan wins, and `GameRun._replan` itself (what a session's step waits for: the whole problem for
half a second, then the reduced one).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from env_service.games.catalog import Catalog
from env_service.games.names import TASK_TYPES
from launcher.processes import REPO_ROOT

if TYPE_CHECKING:
    from env_service.runtime import EnvPool

# A pick_two kitchen with 55 objects, whose whole problem takes about a minute from this state.
BIG_KITCHEN = ("pick_two_obj_and_place", 2)


def timed(compute: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    result = compute()
    return time.monotonic() - started, result


def measure(catalog: Catalog, pool: EnvPool, task_type: str, index: int, cap: float) -> dict[str, Any]:
    from env_service.runtime import GameRun, run_forked
    from tests.env.detours import walk_then_detour

    game = catalog.select("generated_eval", task_type, index)
    run = GameRun(pool.take(), str(game.path), with_expert_plan=False, replan_seconds=cap)
    try:
        walk_then_detour(run)
        pddl_state, infos = run.env.unwrapped._pddl_state, run.env.unwrapped._entity_infos
        whole_seconds, whole = timed(lambda: run_forked(lambda: list(pddl_state.replan(infos)), cap))

        def reduced_and_checked() -> bool:
            plan = run_forked(run._plan_on_reduced_problem, cap)
            if not plan:
                return False
            return run_forked(functools.partial(run._wins_with, plan), cap) is True

        reduced_seconds, reduced_wins = timed(reduced_and_checked)
        env_seconds, env_plan = timed(run._replan)
    finally:
        pool.give_back(run.env)
    return {
        "game": f"{task_type} {index}",
        "whole_s": whole_seconds,
        "whole_found": whole is not None,
        "reduced_s": reduced_seconds,
        "reduced_wins": reduced_wins,
        "env_s": env_seconds,
        "env_found": bool(env_plan),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_replan", description=__doc__.split("\n")[0])
    parser.add_argument("--games", type=int, default=3, help="games per task type (default 3)")
    parser.add_argument("--cap", type=float, default=180.0, help="longest a plan may take, s (default 180)")
    args = parser.parse_args()
    # Only now: importing textworld overwrites sys.argv (env_service/downward.py).
    from env_service.runtime import EnvPool

    catalog = Catalog.from_roots([REPO_ROOT / "env_service" / "data"])
    pool = EnvPool()
    chosen = [(task_type, index) for task_type in TASK_TYPES for index in range(args.games)]
    chosen += [BIG_KITCHEN] if BIG_KITCHEN not in chosen else []
    print(f"{time.strftime('%Y-%m-%d %H:%M')}; {len(chosen)} games; cap {args.cap:.0f} s", flush=True)
    rows = []
    for task_type, index in chosen:
        row = measure(catalog, pool, task_type, index, args.cap)
        rows.append(row)
        whole = f"{row['whole_s']:6.2f} s" if row["whole_found"] else f"over {args.cap:.0f} s"
        print(
            f"  {row['game']:34s} whole problem {whole}; reduced + check {row['reduced_s']:5.2f} s "
            f"(wins: {row['reduced_wins']}); the env's replan {row['env_s']:5.2f} s "
            f"(plan: {row['env_found']})",
            flush=True,
        )
    print(
        f"median: whole problem {statistics.median(r['whole_s'] for r in rows):.2f} s, reduced + check "
        f"{statistics.median(r['reduced_s'] for r in rows):.2f} s, the env's replan "
        f"{statistics.median(r['env_s'] for r in rows):.2f} s; slowest: whole "
        f"{max(r['whole_s'] for r in rows):.2f} s, env {max(r['env_s'] for r in rows):.2f} s"
    )
    print(
        f"reduced plans that win: {sum(r['reduced_wins'] for r in rows)} of {len(rows)}; "
        f"replans with a plan: {sum(r['env_found'] for r in rows)} of {len(rows)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
