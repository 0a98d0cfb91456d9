"""The edge between protobuf and the store for skill libraries: SkillLibrary <-> JSON line <-> summary.

A line is the library's proto3 JSON mapping with the proto field names, compact, UTF-8, ending in
`\\n`, like a trajectory's. `LibraryMeta` is what the store's index keeps of a line (what
ListSkillLibraries answers); it is read from the JSON document at start-up. The content hash is
checked when a library is stored, not at every start-up: a line's id is trusted once on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from alfagent.skills.v1 import skills_pb2
from alfagent.store.v1 import store_pb2
from alfagent_common import skill_library
from alfagent_common.errors import InvalidRequest
from store_service.records import BadLine


@dataclass(frozen=True, slots=True)
class LibraryMeta:
    library_id: str
    extractor_version: str = ""
    # RFC 3339, as in the line ("" if the library has none).
    created_at: str = ""
    source_run_ids: tuple[str, ...] = ()
    source_games: int = 0
    source_trajectories: int = 0
    demonstrations: int = 0
    facts: int = 0
    procedures: int = 0
    edited_from: str = ""


def encode(library: skills_pb2.SkillLibrary, max_bytes: int, now: Timestamp) -> tuple[bytes, LibraryMeta]:
    """The line to store and its metadata: the library checked (`skill_library.check`), its id
    filled in if it had none, `created_at` set to `now` if unset; InvalidRequest if it cannot be."""
    stored = skills_pb2.SkillLibrary()
    stored.CopyFrom(library)
    stored.library_id = skill_library.check(library)
    if not stored.HasField("created_at"):
        stored.created_at.CopyFrom(now)
    document = json_format.MessageToDict(stored, preserving_proto_field_name=True)
    line = orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE)
    if len(line) > max_bytes:
        raise InvalidRequest(
            f"library {stored.library_id} is {len(line)} bytes as JSON; the limit is {max_bytes}"
        )
    return line, meta_from_document(document)


def decode(line: bytes) -> skills_pb2.SkillLibrary:
    """The SkillLibrary of a stored line (fields a newer store added are skipped)."""
    return json_format.ParseDict(orjson.loads(line), skills_pb2.SkillLibrary(), ignore_unknown_fields=True)


def meta_from_line(line: bytes) -> LibraryMeta:
    """Metadata of a stored line (without its `\\n`); BadLine if it is not a library."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise BadLine(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise BadLine("not a JSON object")
    try:
        return meta_from_document(document)
    except InvalidRequest as error:
        raise BadLine(str(error)) from None
    except (AttributeError, TypeError, ValueError) as error:
        raise BadLine(f"not a skill library: {error}") from None


def meta_from_document(document: dict[str, Any]) -> LibraryMeta:
    def strings(name: str) -> tuple[str, ...]:
        values = document.get(name, [])
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise TypeError(f"{name} is not a list of strings")
        return tuple(values)

    def entries(name: str) -> int:
        values = document.get(name, [])
        if not isinstance(values, list):
            raise TypeError(f"{name} is not a list")
        return len(values)

    def text(name: str) -> str:
        value = document.get(name, "")
        if not isinstance(value, str):
            raise TypeError(f"{name} is not a string")
        return value

    return LibraryMeta(
        library_id=skill_library.check_id(text("library_id")),
        extractor_version=text("extractor_version"),
        created_at=text("created_at"),
        source_run_ids=strings("source_run_ids"),
        source_games=len(strings("source_game_ids")),
        source_trajectories=len(strings("source_trajectory_ids")),
        demonstrations=entries("demonstrations"),
        facts=entries("facts"),
        procedures=entries("procedures"),
        edited_from=text("edited_from"),
    )


def summary_to_proto(meta: LibraryMeta) -> store_pb2.SkillLibrarySummary:
    summary = store_pb2.SkillLibrarySummary(
        library_id=meta.library_id,
        extractor_version=meta.extractor_version,
        source_run_ids=meta.source_run_ids,
        source_games=meta.source_games,
        source_trajectories=meta.source_trajectories,
        demonstrations=meta.demonstrations,
        facts=meta.facts,
        procedures=meta.procedures,
        edited_from=meta.edited_from,
    )
    if meta.created_at:
        summary.created_at.FromJsonString(meta.created_at)
    return summary
