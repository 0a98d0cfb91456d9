"""`make bench`: every benchmark, one after another, each in its own process.

Each prints its own figures; bench/RESULTS.md holds the latest ones with the command that made
them. Run one alone with `python -m bench.bench_env` (or bench_catalog, bench_replan, bench_store,
bench_agent, bench_report). bench_llm is not among them: its runs with the local model take
hours on 2 cores, and are started one by one (see its docstring).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = [
    "bench.bench_env",
    "bench.bench_translations",
    "bench.bench_catalog",
    "bench.bench_replan",
    "bench.bench_store",
    "bench.bench_agent",
    "bench.bench_replicas",
    "bench.bench_containers",
    "bench.bench_report",
]


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    failed = []
    for module in BENCHMARKS:
        if not (root / (module.replace(".", "/") + ".py")).exists():
            print(f"== {module}: not present, skipped", flush=True)
            continue
        print(f"== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module], cwd=root, check=False).returncode != 0:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
