"""Skill libraries in the store (store_service/skill_libraries.py): PutSkillLibrary, GetSkillLibrary and
ListSkillLibraries over gRPC, in-process and as the real `python -m store_service`, which keeps every
acknowledged library through a SIGKILL and cuts a torn tail at start-up."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import pytest

from agent_service.skills.convert import source_from_proto, to_proto
from agent_service.skills.extract import extract
from alfagent.skills.v1 import skills_pb2
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent_clients.store import StoreClient
from alfagent_common import skill_file, skill_library
from alfagent_common.errors import InvalidRequest, NotFound
from alfagent_common.server import CHANNEL_OPTIONS
from store_service.skill_libraries import DIRECTORY, file_name
from tests.skills.conftest import Recorded
from tests.store.store_harness import InProcessStore, StoreProcess

T = TypeVar("T")


def call(address: str, body: Callable[[StoreClient], Awaitable[T]]) -> T:
    async def run() -> T:
        async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
            return await body(StoreClient(channel))

    return asyncio.run(run())


def libraries(recorded: Recorded, count: int) -> list[skills_pb2.SkillLibrary]:
    """`count` different libraries, from growing sets of the recorded episodes."""
    episodes = recorded.all
    return [to_proto(extract(source_from_proto(t) for t in episodes[: 2 + n])) for n in range(count)]


def without_time(library: skills_pb2.SkillLibrary) -> skills_pb2.SkillLibrary:
    copy = skills_pb2.SkillLibrary()
    copy.CopyFrom(library)
    copy.ClearField("created_at")
    return copy


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with InProcessStore(tmp_path_factory.mktemp("skills-store") / "store") as running:
        yield running.address


def test_put_get_list_and_a_second_put(store: str, recorded: Recorded) -> None:
    first, second, third = libraries(recorded, 3)

    async def body(client: StoreClient) -> None:
        assert await client.put_library(first) == (first.library_id, True)
        assert await client.put_library(first) == (first.library_id, False)
        # No id: the store computes it (the same content, so the same library).
        assert await client.put_library(without_time(first)) == (first.library_id, False)
        unnamed = skills_pb2.SkillLibrary()
        unnamed.CopyFrom(second)
        unnamed.library_id = ""
        assert await client.put_library(unnamed) == (second.library_id, True)
        # At once: one of them stores it.
        answers = await asyncio.gather(*(client.put_library(third) for _ in range(4)))
        assert sorted(answers) == [(third.library_id, False)] * 3 + [(third.library_id, True)]
        stored = await client.get_library(first.library_id)
        assert stored.HasField("created_at") and without_time(stored) == without_time(first)
        page, token = await client.list_libraries(page_size=2)
        rest, last = await client.list_libraries(page_size=2, page_token=token)
        assert [s.library_id for s in page + rest] == [first.library_id, second.library_id, third.library_id]
        assert token and not last
        summary = page[0]
        assert (summary.demonstrations, summary.facts, summary.procedures) == (
            len(first.demonstrations),
            len(first.facts),
            len(first.procedures),
        )
        assert list(summary.source_run_ids) == list(first.source_run_ids)
        assert summary.source_games == len(first.source_game_ids) and summary.created_at.seconds > 0

    call(store, body)


def test_refusals(store: str, recorded: Recorded) -> None:
    (library,) = libraries(recorded, 1)
    unknown = "sha256:" + "0" * 64

    async def body(client: StoreClient) -> None:
        with pytest.raises(NotFound, match="no skill library"):
            await client.get_library(unknown)
        with pytest.raises(InvalidRequest, match="not a library id"):
            await client.get_library("t-1")
        wrong = skills_pb2.SkillLibrary()
        wrong.CopyFrom(library)
        wrong.library_id = unknown
        with pytest.raises(InvalidRequest, match="is not the hash of the library's content"):
            await client.put_library(wrong)
        broken = skills_pb2.SkillLibrary()
        broken.CopyFrom(library)
        broken.library_id = ""
        broken.procedures[0].steps[1].action = "go to {tol}"
        with pytest.raises(InvalidRequest, match=r"procedures\[0\]\.steps\[1\]\.action: uses \{tol\}"):
            await client.put_library(broken)
        with pytest.raises(InvalidRequest, match="page_token"):
            await client.list_libraries(page_token="garbage")

    call(store, body)
    with grpc.insecure_channel(store) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            store_pb2_grpc.StoreServiceStub(channel).PutSkillLibrary(
                store_pb2.PutSkillLibraryRequest(), timeout=30
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_library_file_over_grpc(store: str, recorded: Recorded) -> None:
    (library,) = libraries(recorded, 1)
    text = skill_file.dumps(library)
    lines = text.splitlines()
    at = next(index for index, line in enumerate(lines) if '"task_type": ' in line)
    lines[at] = lines[at].replace('"task_type": ', '"task_type" ')
    broken = "\n".join(lines) + "\n"
    edited = text.replace('"support": ', '"support": 1', 1)

    async def body(client: StoreClient) -> None:
        answer = await client.import_library(text)
        assert (answer.library_id, answer.edited_from) == (library.library_id, "")
        named = rf"^store_service: INVALID_ARGUMENT: line {at + 1}, column \d+: Expecting ':' delimiter"
        with pytest.raises(InvalidRequest, match=named):
            await client.import_library(broken)
        answer = await client.import_library(edited)
        assert answer.created and answer.edited_from == library.library_id
        assert answer.library_id != library.library_id
        stored = await client.get_library(answer.library_id)
        assert stored.edited_from == library.library_id
        assert list(stored.source_game_ids) == list(library.source_game_ids)

    call(store, body)


def test_libraries_survive_a_sigkill_and_a_torn_tail(tmp_path: Path, recorded: Recorded) -> None:
    store_dir = tmp_path / "store"
    made = libraries(recorded, 3)
    with StoreProcess(store_dir) as process:

        async def put_all(client: StoreClient) -> list[tuple[str, bool]]:
            return await asyncio.gather(*(client.put_library(library) for library in made))

        assert sorted(call(process.address, put_all)) == sorted((lib.library_id, True) for lib in made)
        process.kill()
    path = store_dir / DIRECTORY / file_name(1)
    with path.open("ab") as file:  # a put the crash cut short: never acknowledged
        file.write(b'{"library_id": "sha256:' + b"1" * 64 + b'", "demonstr')
    with StoreProcess(store_dir) as process:

        async def read_all(client: StoreClient) -> list[skills_pb2.SkillLibrary]:
            listed = [summary.library_id async for summary in client.iter_libraries()]
            assert sorted(listed) == sorted(library.library_id for library in made)
            return [await client.get_library(library.library_id) for library in made]

        for stored, library in zip(call(process.address, read_all), made, strict=True):
            assert without_time(stored) == without_time(library)
        assert process.logged("cut damaged bytes from a segment")
        assert call(process.address, lambda client: client.put_library(made[0])) == (
            made[0].library_id,
            False,
        )
    assert path.read_bytes().endswith(b"\n") and len(list(path.parent.glob("*.corrupt"))) == 1


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_lines_are_read_by_jq_and_their_ids_checked_with_it(tmp_path: Path, recorded: Recorded) -> None:
    (library,) = libraries(recorded, 1)
    with StoreProcess(tmp_path / "store") as process:
        call(process.address, lambda client: client.put_library(library))
    path = tmp_path / "store" / DIRECTORY / file_name(1)
    ids = subprocess.run(["jq", "-r", ".library_id", str(path)], capture_output=True, text=True, check=True)
    assert ids.stdout.split() == [library.library_id]
    canonical = subprocess.run(
        ["jq", "-cjS", "del(.library_id, .created_at)", str(path)], capture_output=True, check=True
    ).stdout
    assert canonical == skill_library.canonical_bytes(library)
    assert "sha256:" + hashlib.sha256(canonical).hexdigest() == library.library_id
    assert json.loads(path.read_text())["extractor_version"] == library.extractor_version
