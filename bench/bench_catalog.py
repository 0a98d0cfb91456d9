"""env_service's catalog on an official-sized split: start-up reads of every game, with and without cache.

    python -m bench.bench_catalog            # the figures in bench/RESULTS.md (~1.3 GB of temp files)
    python -m bench.bench_catalog --quick    # 300 games

Official data cannot be fetched here, so the benchmark builds its stand-in: 3,553 game directories
(the size of ALFWorld's train split) in the official layout, copied from the shipped
`generated_train` games, each `traj_data.json` padded with a per-frame `images` list to ~230 kB as
ALFRED's carry, and the `alfagent_generated` marker removed so that they count as official. It then
times `Catalog.from_roots`: without a cache, with an empty cache (the first start-up, which fills
it), and with the filled cache (every later start-up), alternating the uncached and warm scans.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from env_service.games.catalog import Catalog
from env_service.games.scan_cache import ScanCache

SHIPPED = Path(__file__).resolve().parent.parent / "env_service" / "data" / "json_2.1.1" / "generated_train"
OFFICIAL_TRAIN_GAMES = 3553
FRAMES = 3500  # ~230 kB of traj_data.json
# traj_data.json keys this project adds to the games it generates (alfagent_generated, ...).
PROJECT_KEYS = "alfagent_"


def build(root: Path, count: int) -> None:
    sources = sorted(path for path in SHIPPED.glob("*/*") if path.is_dir())
    split = root / "json_2.1.1" / "train"
    for number in range(count):
        source = sources[number % len(sources)]
        traj = json.loads((source / "traj_data.json").read_text())
        for key in [key for key in traj if key.startswith(PROJECT_KEYS)]:
            del traj[key]
        traj["images"] = [
            {"high_idx": i // 50, "image_name": f"{i:09d}.png", "low_idx": i} for i in range(FRAMES)
        ]
        target = split / source.parent.name / f"trial_T2019{number:08d}_{number:06d}"
        target.mkdir(parents=True)
        (target / "traj_data.json").write_text(json.dumps(traj))
        shutil.copy(source / "game.tw-pddl", target / "game.tw-pddl")


def rounded(seconds: list[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in seconds)


def timed(root: Path, cache_file: Path | None) -> tuple[float, int, ScanCache]:
    started = time.perf_counter()
    cache = ScanCache.load(cache_file)
    catalog = Catalog.from_roots([root], cache)
    cache.save()
    return time.perf_counter() - started, len(catalog), cache


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_catalog", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 games")
    args = parser.parse_args()
    count = 300 if args.quick else OFFICIAL_TRAIN_GAMES
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as temporary:
        root = Path(temporary)
        build(root / "data", count)
        traj_bytes = statistics.mean(
            p.stat().st_size for p in root.glob("data/json_2.1.1/train/*/*/traj_data.json")
        )
        cache_file = root / "catalog.json"
        first, games, cold = timed(root / "data", cache_file)
        assert games == count and cold.misses == count, (games, cold.misses)
        uncached, warm = [], []
        for _ in range(3):
            uncached.append(timed(root / "data", None)[0])
            seconds, games, cache = timed(root / "data", cache_file)
            assert games == count and cache.hits == count, (games, cache.hits)
            warm.append(seconds)
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"{count:,} games, traj_data.json {traj_bytes / 1000:,.0f} kB on average; {when}")
    print(f"  no cache:                      {statistics.median(uncached):.2f} s (runs: {rounded(uncached)})")
    print(f"  first start-up, filling cache: {first:.2f} s")
    print(f"  later start-ups, warm cache:   {statistics.median(warm):.3f} s (runs: {rounded(warm)})")
    print(f"  ratio warm / no cache:         {statistics.median(warm) / statistics.median(uncached):.3f}")


if __name__ == "__main__":
    main()
