"""`python -m agent_service report`: write the HTML report of one or more runs.

    python -m agent_service report --run-id A [--run-id B ...] --out report.html
    python -m agent_service report --latest --out .run/report.html    # what `make report` runs

Trajectories are read through StoreService (`--store`, default `$STORE_ADDR` or localhost:50053).
`--latest` takes the run of the last trajectory in the store directory (`--store-dir`, default
`$STORE_DIR` or var/store, where `make up` keeps it). Expert plans: see `expert.py`.
Needs nothing beyond the agent's own dependencies: plotly.js is vendored in `static/vendor/`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from alfagent_common.errors import AlfagentError

DEFAULT_STORE_DIR = "var/store"


def add_report_command(commands: Any) -> None:
    """The `report` subcommand, on the parser's `add_subparsers()` object."""
    report = commands.add_parser("report", help="write an HTML report of runs stored in the store")
    report.add_argument("--run-id", action="append", default=[], help="repeatable: runs side by side")
    report.add_argument("--latest", action="store_true", help="the run stored last (see --store-dir)")
    report.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file to write")
    report.add_argument(
        "--store",
        default=os.environ.get("STORE_ADDR", "localhost:50053"),
        help="StoreService address (default: $STORE_ADDR or localhost:50053)",
    )
    report.add_argument(
        "--store-dir",
        type=Path,
        default=Path(os.environ.get("STORE_DIR") or DEFAULT_STORE_DIR),
        help="only for --latest: the store's directory",
    )
    report.add_argument(
        "--expert-run-id",
        action="append",
        default=[],
        help="an EXPERT run of the same games whose episodes give the expert plans (repeatable)",
    )
    report.add_argument(
        "--env",
        default="",
        type=_env_addr,
        help="EnvService, as ENV_ADDR names it (an address, a comma-separated list of replicas, or "
        "dns:///name:port): fetch the expert plan of games no EXPERT run played (Reset + Close)",
    )
    report.add_argument("--title", default="", help="default: the run ids")
    report.add_argument("--token", default="", help="bearer token to present (default: $ALFAGENT_TOKEN)")
    report.add_argument("--ca", default="", help="CA certificate of a TLS stack (default: $ALFAGENT_TLS_CA)")


def _env_addr(text: str) -> str:
    from agent_service.replicas import parse_env_addr
    from alfagent_common.settings import ConfigError

    if text:
        try:
            parse_env_addr(text)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return text


async def _write_report(args: argparse.Namespace, run_ids: list[str], out: TextIO) -> None:
    from agent_service.report.build import report_data
    from agent_service.report.expert import plans_from_env, plans_from_expert_runs
    from agent_service.report.page import render
    from agent_service.report.store import fetch_runs
    from alfagent_common.auth import client_security

    security = client_security(args.token, args.ca)
    runs = await fetch_runs(args.store, run_ids, security)
    expert_runs = await fetch_runs(args.store, [r for r in args.expert_run_id if r not in runs], security)
    every_trajectory = [t for trajectories in [*runs.values(), *expert_runs.values()] for t in trajectories]
    plans = plans_from_expert_runs(every_trajectory)
    warnings: list[str] = []
    missing = sorted({t.game.game_id for ts in runs.values() for t in ts} - plans.keys())
    if missing and args.env:
        fetched, failures = await plans_from_env(args.env, missing)
        plans.update(fetched)
        if failures:
            warnings.append(f"No expert plan for {len(missing) - len(fetched)} game(s): {failures[0]}")
    summary, details = report_data(runs, plans, warnings)
    title = args.title or "alfagent report: " + ", ".join(runs)
    page = render(title, summary, details)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(args.out)  # a reader never sees half a report
    size_mb = len(page.encode()) / 1e6
    print(f"wrote {args.out} ({size_mb:.1f} MB): {len(summary['episodes'])} episodes", file=out)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def run_report(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from agent_service.report.store import EmptyRuns, latest_run_id

    run_ids = list(args.run_id)
    if args.latest:
        try:
            run_ids.append(latest_run_id(args.store_dir))
        except (OSError, LookupError, ValueError) as error:
            print(f"error: --latest: {error}", file=sys.stderr)
            return 2
    if not run_ids:
        print("error: give --run-id (repeatable) or --latest", file=sys.stderr)
        return 2
    try:
        asyncio.run(_write_report(args, run_ids, out))
    except EmptyRuns as empty:
        print(f"error: {empty}; nothing written", file=sys.stderr)
        return 2
    except AlfagentError as error:
        print(f"error: {error}; nothing written", file=sys.stderr)
        return 2
    return 0
