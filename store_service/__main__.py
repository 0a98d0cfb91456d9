"""`python -m store_service` serves; `python -m store_service export ...` writes an SFT dataset."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from alfagent_common import logs, startup
from alfagent_common.errors import AlfagentError
from store_service import export
from store_service.config import StoreConfig

log = logging.getLogger("store_service")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m store_service",
        description="alfagent's trajectory store. Without a command, serve StoreService "
        "(configured by environment variables, see store_service/README.md).",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve StoreService (the default)")
    exporter = commands.add_parser(
        "export",
        help="write a run's trajectories as chat-format JSONL for supervised fine-tuning",
        description='Write one conversation per stored trajectory of a run: {"messages": [...]} per line. '
        "Reads the segment files directly (the store may be running); changes nothing in them.",
    )
    exporter.add_argument("--run-id", required=True, help="the run whose trajectories to export")
    exporter.add_argument("--out", required=True, type=Path, help="output file (JSONL); '-' for stdout")
    exporter.add_argument("--won-only", action="store_true", help="only episodes that were won")
    exporter.add_argument(
        "--store-dir", type=Path, default=None, help="the store directory (default: $STORE_DIR, ./var/store)"
    )
    exporter.add_argument(
        "--assistant",
        choices=export.ASSISTANT_CONTENTS,
        default="action",
        help="model turns: the action sent to the environment (default), or the model's raw output",
    )
    exporter.add_argument(
        "--metadata", action="store_true", help="add a 'metadata' object (ids, task type, won) to each line"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "export":
        config = startup.read_config("store_service", StoreConfig.from_env)
        logs.configure("store_service", config.log_level)
        store_dir = args.store_dir or config.store_dir
        options = export.ExportOptions(
            won_only=args.won_only, assistant=args.assistant, metadata=args.metadata
        )
        try:
            count = export.export_run(store_dir, args.run_id, args.out, options)
        except AlfagentError as error:
            print(f"store_service export: {error}", file=sys.stderr)
            return 1
        log.info("exported", extra={"run_id": args.run_id, "conversations": count, "out": str(args.out)})
        return 0
    from store_service.server import run  # grpc is only needed to serve

    try:
        startup.serve("store_service", StoreConfig.from_env, run)
    except AlfagentError as error:  # e.g. STORE_DIR locked by another store
        log.error("store could not start", extra={"error": str(error)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
