"""`python -m agent_service skills ...` against the real store process, holding episodes of real games."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from agent_service.skills.cli import main
from agent_service.skills.convert import source_from_proto
from agent_service.skills.extract import extract
from alfagent_clients.store import StoreClient
from alfagent_common import skill_file
from alfagent_common.server import CHANNEL_OPTIONS
from tests.conftest import scrubbed_environ
from tests.skills.conftest import EXPERT_RUN, SEARCH_RUN, Recorded
from tests.store.store_harness import REPO, StoreProcess


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, recorded: Recorded) -> Iterator[str]:
    """The store, holding every recorded episode as the agent appended it."""
    with StoreProcess(tmp_path_factory.mktemp("skills-cli") / "store") as process:

        async def append() -> None:
            async with grpc.aio.insecure_channel(process.address, options=CHANNEL_OPTIONS) as channel:
                client = StoreClient(channel)
                for trajectory in recorded.all:
                    await client.append(trajectory)

        asyncio.run(append())
        yield process.address


def skills(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, in its own process with a scrubbed environment."""
    return subprocess.run(
        [sys.executable, "-m", "agent_service", "skills", *args],
        cwd=REPO,
        env=scrubbed_environ(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def run(*args: str) -> tuple[int, str]:
    """The command run in this process (quicker): exit code and output."""
    out = io.StringIO()
    return main(list(args), out=out), out.getvalue()


def last_json(output: str) -> dict[str, object]:
    answer: dict[str, object] = json.loads(output.strip().splitlines()[-1])
    return answer


def test_extract_stores_the_library_of_the_runs_and_prints_its_id(store: str, recorded: Recorded) -> None:
    done = skills("extract", "--run-id", EXPERT_RUN, "--run-id", SEARCH_RUN, "--store", store)
    assert done.returncode == 0, done.stderr
    answer = last_json(done.stdout)
    expected = extract(source_from_proto(t) for t in recorded.all)
    assert answer["library_id"] == expected.library_id and answer["created"] is True
    assert (
        answer["demonstrations"] == len(expected.demonstrations) == len(recorded.expert + recorded.searched)
    )
    assert (answer["facts"], answer["procedures"]) == (len(expected.facts), len(expected.procedures))
    assert (answer["source_runs"], answer["source_trajectories"]) == (2, len(recorded.all))
    # Again, runs in the other order: the same library, already stored.
    code, output = run("extract", "--run-id", SEARCH_RUN, "--run-id", EXPERT_RUN, "--store", store)
    assert code == 0 and last_json(output) | {"created": True} == answer


def test_a_run_with_no_trajectories_gives_the_empty_library(store: str) -> None:
    code, output = run("extract", "--run-id", "no-such-run", "--store", store)
    answer = last_json(output)
    assert code == 0 and answer["library_id"] == extract([]).library_id
    assert (answer["demonstrations"], answer["facts"], answer["procedures"]) == (0, 0, 0)


def test_list_show_export_edit_and_import(store: str, recorded: Recorded, tmp_path: Path) -> None:
    library_id = extract(source_from_proto(t) for t in recorded.expert).library_id
    code, output = run("extract", "--run-id", EXPERT_RUN, "--store", store)
    assert code == 0 and last_json(output)["library_id"] == library_id
    code, listing = run("list", "--store", store)
    assert code == 0 and library_id in listing
    code, shown = run("show", library_id[:15], "--store", store)
    assert (
        code == 0 and shown.startswith(f"library {library_id}\n") and "take_move(obj, recep, target)" in shown
    )
    exported = tmp_path / "library.json"
    code, output = run("export", library_id, "--out", str(exported), "--store", store)
    assert code == 0 and last_json(output) == {"library_id": library_id, "out": str(exported)}
    assert skill_file.loads(exported.read_text()).library.library_id == library_id

    document = json.loads(exported.read_text())
    document["facts"] = [fact for fact in document["facts"] if fact["kind"] != "LOOKED_IN"]
    exported.write_text(json.dumps(document, indent=2))
    done = skills("import", str(exported), "--store", store)
    assert done.returncode == 0, done.stderr
    answer = last_json(done.stdout)
    assert answer["created"] is True and answer["edited_from"] == library_id
    assert answer["library_id"] != library_id and answer["source_trajectories"] == len(recorded.expert)
    code, output = run("import", str(exported), "--store", store)
    assert code == 0 and last_json(output) == answer | {"created": False}


def test_a_malformed_file_is_refused_naming_its_line(store: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "extractor_version": "x",\n  "facts": [{"kind": "FOUND_IN", "count": "two"}]\n}\n')
    done = skills("import", str(path), "--store", store)
    assert done.returncode == 2
    assert done.stderr.strip() == f"skills import: {path}: line 3: facts[0].count must be a whole number"
    code, _ = run("show", "sha256:" + "f" * 64, "--store", store)
    assert code == 2
