"""Generate ALFWorld games, or list the games of a data root.

Usage::

    python -m gamegen generate --split NAME --per-type N --seed S --out DIR
        [--floor-plans train|eval|all] [--task-types TYPE ...] [--timeout SECONDS] [--clean]
    python -m gamegen list --root DIR [--root DIR ...] [--split NAME] [--task-type TYPE]

``generate`` writes ``N`` verified games of each task type (default: all six) into
``DIR/json_2.1.1/NAME/<task dir>/<trial dir>/{game.tw-pddl,traj_data.json}``. The same seed, options
and installed alfworld/textworld give byte-identical files. ``--floor-plans`` picks the rooms: ``train``
and ``eval`` are ALFRED's own disjoint room sets (alfworld.gen.constants TRAIN_/TEST_SCENE_NUMBERS).
``--clean`` deletes ``DIR/json_2.1.1/NAME`` first. Each game is checked by planning and replaying it in
a subprocess killed after ``--timeout`` seconds; failed draws are skipped and logged to stderr.

``list`` prints one line per game, as the catalog serves it (``game_id<TAB>source<TAB>task``).

The shipped data in env_service/data was made with the commands in env_service/data/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from env_service.games.catalog import Catalog, CatalogError
from env_service.games.names import TASK_TYPES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gamegen", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate verified games into a data root")
    gen.add_argument("--split", required=True, help="split directory name, e.g. generated_eval")
    gen.add_argument("--per-type", type=int, required=True, help="games per task type")
    gen.add_argument("--seed", type=int, required=True, help="non-negative seed")
    gen.add_argument("--out", type=Path, required=True, help="data root (json_2.1.1 is created inside)")
    gen.add_argument("--floor-plans", choices=("train", "eval", "all"), default="all")
    gen.add_argument("--task-types", nargs="+", choices=TASK_TYPES, default=list(TASK_TYPES), metavar="TYPE")
    gen.add_argument("--timeout", type=float, default=120.0, help="seconds allowed to check one game")
    gen.add_argument("--clean", action="store_true", help="delete the split directory first")

    lst = sub.add_parser("list", help="list the games a data root serves")
    lst.add_argument("--root", type=Path, action="append", required=True, help="data root (repeatable)")
    lst.add_argument("--split", default=None)
    lst.add_argument("--task-type", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "generate":
        # Imported here: listing must not pay for alfworld/textworld.
        from gamegen.generate import GenerateConfig, generate

        if args.per_type < 1:
            print("--per-type must be at least 1", file=sys.stderr)
            return 2
        config = GenerateConfig(
            split=args.split,
            per_type=args.per_type,
            seed=args.seed,
            out=args.out,
            floor_plans=args.floor_plans,
            task_types=tuple(args.task_types),
            timeout=args.timeout,
            clean=args.clean,
        )
        report = generate(config)
        for task_type, paths in report.written.items():
            print(f"{task_type}: {len(paths)} games")
        print(f"skipped draws: {len(report.skipped)}; took {report.seconds:.0f} s")
        return 0

    catalog = Catalog.from_roots(args.root)
    try:
        games = catalog.games(args.split, args.task_type)
    except CatalogError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        for game in games:
            print(f"{game.game_id}\t{game.source}\t{game.task}")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(f"{len(games)} games", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
