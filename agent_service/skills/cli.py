"""`python -m agent_service skills ...`: make, read and move skill libraries kept in the store.

    python -m agent_service skills extract --run-id RUN [--run-id RUN ...] [--store ADDR]
    python -m agent_service skills list [--store ADDR]
    python -m agent_service skills show LIBRARY_ID [--store ADDR]
    python -m agent_service skills export LIBRARY_ID --out FILE [--store ADDR]
    python -m agent_service skills import FILE [--store ADDR]

`extract` reads the runs' trajectories from the store, extracts a library, stores it and prints,
as its last line, a JSON object with "library_id" (and what the library holds). `import` prints
the same kind of line. A library id may be given by a prefix that names one library
("sha256:2a45fb8a"). The store is `--store`, default $STORE_ADDR or localhost:50053.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from agent_service.skills import convert, executor, retrieve
from agent_service.skills.extract import KINDS, extract
from agent_service.skills.library import SkillLibrary, SourceTrajectory
from alfagent.skills.v1 import skills_pb2
from alfagent_clients.store import StoreClient
from alfagent_common import auth, skill_file, skill_library
from alfagent_common.errors import AlfagentError, InvalidRequest, NotFound
from alfagent_common.server import CHANNEL_OPTIONS

PROG = "python -m agent_service skills"
# Pages of trajectories read at once (a page also stops at the store's 16 MiB).
PAGE_SIZE = 200


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--store",
        default=os.environ.get("STORE_ADDR", "localhost:50053"),
        help="StoreService address (default: $STORE_ADDR or localhost:50053)",
    )
    store.add_argument("--token", default="", help="bearer token to present (default: $ALFAGENT_TOKEN)")
    store.add_argument("--ca", default="", help="CA certificate of a TLS stack (default: $ALFAGENT_TLS_CA)")
    extracting = commands.add_parser("extract", parents=[store], help="extract a library from stored runs")
    extracting.add_argument("--run-id", action="append", required=True, help="repeatable: every run to read")
    extracting.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"comma-separated kinds of entries the library holds (default: all, {','.join(KINDS)})",
    )
    commands.add_parser("list", parents=[store], help="list the stored libraries")
    show = commands.add_parser("show", parents=[store], help="say what a library holds")
    show.add_argument("library_id")
    export = commands.add_parser(
        "export", parents=[store], help="write a library as a file a person can edit"
    )
    export.add_argument("library_id")
    export.add_argument("--out", required=True, help="the file to write; '-' for stdout")
    load = commands.add_parser("import", parents=[store], help="store the library a file holds")
    load.add_argument("file", type=Path)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args, out))
    except AlfagentError as error:
        print(f"skills {args.command}: {error}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "import":
        # Checked here first, so that a malformed file is reported without a store to ask.
        text = _read_text(args.file)
        try:
            skill_file.loads(text)
        except InvalidRequest as error:
            raise InvalidRequest(f"{args.file}: {error}") from None
    security = auth.client_security(args.token, args.ca)
    async with auth.channel(args.store, security, CHANNEL_OPTIONS) as channel:
        store = StoreClient(channel, timeout_seconds=120)
        if args.command == "extract":
            kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
            return await _extract(store, args.run_id, kinds, out)
        if args.command == "list":
            return await _list(store, out)
        if args.command == "import":
            answer = await store.import_library(text)
            library = await store.get_library(answer.library_id)
            _print_result(out, library, created=answer.created)
            return 0
        library = await store.get_library(await _resolve(store, args.library_id))
        if args.command == "show":
            out.write(describe(convert.from_proto(library)))
            return 0
        _write(args.out, skill_file.dumps(library), out)
        if args.out != "-":
            print(json.dumps({"library_id": library.library_id, "out": args.out}), file=out)
        return 0


async def _extract(store: StoreClient, run_ids: list[str], kinds: list[str], out: TextIO) -> int:
    sources: list[SourceTrajectory] = []
    for run_id in dict.fromkeys(run_ids):
        found = [
            convert.source_from_proto(t) async for t in store.iter_all(run_id=run_id, page_size=PAGE_SIZE)
        ]
        if not found:
            print(f"skills extract: run {run_id!r} has no stored trajectories", file=sys.stderr)
        sources.extend(found)
    library = extract(sources, created_at=datetime.now(UTC), kinds=kinds)
    library_id, created = await store.put_library(convert.to_proto(library))
    if library_id != library.library_id:  # the store hashes what it got: it must agree
        raise InvalidRequest(f"the store stored the library as {library_id}, not {library.library_id}")
    won = sum(source.won for source in sources)
    print(f"read {len(sources)} trajectories ({won} won) of {len(dict.fromkeys(run_ids))} runs", file=out)
    _print_result(out, convert.to_proto(library), created=created)
    return 0


def _print_result(out: TextIO, library: skills_pb2.SkillLibrary, *, created: bool) -> None:
    line = {
        "library_id": library.library_id,
        "created": created,
        "demonstrations": len(library.demonstrations),
        "facts": len(library.facts),
        "procedures": len(library.procedures),
        "source_runs": len(library.source_run_ids),
        "source_games": len(library.source_game_ids),
        "source_trajectories": len(library.source_trajectory_ids),
        "edited_from": library.edited_from,
    }
    print(json.dumps(line), file=out)


async def _list(store: StoreClient, out: TextIO) -> int:
    print(f"{'library_id':<71}  {'created':<20} {'demos':>5} {'facts':>5} {'procs':>5}  runs", file=out)
    async for summary in store.iter_libraries():
        created = (
            summary.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
            if summary.created_at.seconds
            else ""
        )
        edited = f"  (edited from {summary.edited_from[:15]}…)" if summary.edited_from else ""
        print(
            f"{summary.library_id:<71}  {created:<20} {summary.demonstrations:>5} {summary.facts:>5} "
            f"{summary.procedures:>5}  {','.join(summary.source_run_ids)}{edited}",
            file=out,
        )
    return 0


async def _resolve(store: StoreClient, given: str) -> str:
    """A full library id, or the one stored library whose id begins with `given`."""
    if given.startswith(skill_library.ID_PREFIX) and len(given) == len(skill_library.ID_PREFIX) + 64:
        return given
    prefix = given if given.startswith(skill_library.ID_PREFIX) else skill_library.ID_PREFIX + given
    found = [s.library_id async for s in store.iter_libraries() if s.library_id.startswith(prefix)]
    if len(found) != 1:
        raise NotFound(f"{len(found) or 'no'} stored libraries have an id beginning with {prefix!r}")
    return found[0]


def describe(library: SkillLibrary) -> str:
    """What `show` prints: lineage, then each kind of entry in brief."""
    lines = [
        f"library {library.library_id}",
        f"  extractor {library.extractor_version}, created {library.created_at or 'unknown'}",
        f"  from {len(library.source_trajectory_ids)} trajectories of {len(library.source_game_ids)} games, "
        f"runs {', '.join(library.source_run_ids) or 'none'}",
    ]
    if library.edited_from:
        lines.append(f"  edited from {library.edited_from}")
    by_type = Counter(d.task_type for d in library.demonstrations)
    searched = Counter(d.task_type for d in library.demonstrations if d.places_searched)
    lines.append(f"demonstrations: {len(library.demonstrations)}")
    lines += [
        f"  {task_type}: {n} ({searched[task_type]} searched)" for task_type, n in sorted(by_type.items())
    ]
    lines.append(f"procedures: {len(library.procedures)}")
    for procedure in library.procedures:
        task_types = ", ".join(procedure.task_types)
        lines.append(f"  {executor.signature(procedure)}  support {procedure.support}, {task_types}")
        lines += [f"      {step.action}    -> {step.expect or '(any answer)'}" for step in procedure.steps]
    kinds = Counter(f.kind.value for f in library.facts)
    lines.append(f"facts: {len(library.facts)} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    for fact in sorted(library.facts, key=lambda f: (-f.count, f.kind.value, f.object, f.receptacle))[:15]:
        lines.append(f"  {retrieve.describe(fact)}")
    return "\n".join(lines) + "\n"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidRequest(f"cannot read {path}: {error}") from None


def _write(destination: str, text: str, out: TextIO) -> None:
    if destination == "-":
        out.write(text)
        return
    path = Path(destination)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as error:
        raise InvalidRequest(f"cannot write {path}: {error}") from None
