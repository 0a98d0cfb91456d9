"""The library file a person reads and edits (alfagent_common/skill_file.py), and the library rules
(alfagent_common/skill_library.py) it reports by line."""

from __future__ import annotations

import json

import pytest

from agent_service.skills.convert import to_proto
from agent_service.skills.library import SkillLibrary
from alfagent.skills.v1 import skills_pb2
from alfagent_common import skill_file, skill_library
from alfagent_common.errors import InvalidRequest


@pytest.fixture
def stored(library: SkillLibrary) -> skills_pb2.SkillLibrary:
    message = to_proto(library)
    message.created_at.FromJsonString("2030-01-02T03:04:05Z")
    return message


def line_of(text: str, needle: str, after: int = 0) -> int:
    """The number of the first line from line `after` on that holds `needle`."""
    lines = text.splitlines()
    return next(number for number in range(max(after, 1), len(lines) + 1) if needle in lines[number - 1])


def test_a_file_reads_back_as_the_same_library(stored: skills_pb2.SkillLibrary) -> None:
    text = skill_file.dumps(stored)
    read = skill_file.loads(text)
    assert read.library == stored and read.edited_from == ""
    # One step, one fact, one parameter a line: what a person edits.
    assert (
        '{"action": "take {obj} from {recep}", "expect": "You pick up the {obj} from the {recep}."}' in text
    )
    assert text.count('"kind": "FOUND_IN"') == sum(f.kind == skills_pb2.FOUND_IN for f in stored.facts)
    assert json.loads(text) == json.loads(skill_file.dumps(read.library))


def test_an_edited_file_is_a_new_library_with_its_lineage(stored: skills_pb2.SkillLibrary) -> None:
    document = json.loads(skill_file.dumps(stored))
    document["procedures"][0]["steps"][1]["expect"] = ""
    read = skill_file.loads(json.dumps(document, indent=1))
    assert read.edited_from == stored.library_id == read.library.edited_from
    assert read.library.library_id == skill_library.content_id(read.library) != stored.library_id
    assert not read.library.HasField("created_at")
    assert list(read.library.source_trajectory_ids) == list(stored.source_trajectory_ids)
    # Edited again: the lineage names the library it came from last.
    again = json.loads(skill_file.dumps(read.library))
    del again["facts"][0]
    twice = skill_file.loads(json.dumps(again))
    assert twice.edited_from == read.library.library_id
    # A file with no id at all (written by hand) is a library of its own, not an edit.
    del again["library_id"]
    fresh = skill_file.loads(json.dumps(again))
    assert fresh.edited_from == "" and fresh.library.library_id == skill_library.content_id(fresh.library)


def test_a_syntax_error_names_its_line(stored: skills_pb2.SkillLibrary) -> None:
    text = skill_file.dumps(stored)
    number = line_of(text, '"extractor_version"')
    broken = text.replace('"extractor_version": ', '"extractor_version" ', 1)
    with pytest.raises(InvalidRequest, match=rf"^line {number}, column \d+: Expecting ':' delimiter"):
        skill_file.loads(broken)
    with pytest.raises(InvalidRequest, match=r"^line 1, column 1: Expecting value"):
        skill_file.loads("")


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (
            '"action": "go to {target}"',
            '"actoin": "go to {target}"',
            r"procedures\[0\]\.steps\[1\]\.actoin is not a field",
        ),
        ('"support": ', '"support": "many", "x": ', r"procedures\[0\]\.support must be a whole number"),
        ('"kind": "FOUND_IN"', '"kind": "FOUND"', r"facts\[0\]\.kind must be one of FOUND_IN, LOOKED_IN"),
        (
            '"action": "go to {target}"',
            '"action": "go to {tol}"',
            r"procedures\[0\]\.steps\[1\]\.action uses \{tol\}, which is not among",
        ),
        (
            '"action": "go to {target}"',
            '"action": "go to {target"',
            r"procedures\[0\]\.steps\[1\]\.action is not a template",
        ),
    ],
)
def test_a_schema_or_rule_fault_names_its_line(
    stored: skills_pb2.SkillLibrary, old: str, new: str, says: str
) -> None:
    text = skill_file.dumps(stored)
    number = line_of(text, old, line_of(text, '"procedures"') if "kind" not in old else 1)
    lines = text.splitlines()
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    with pytest.raises(InvalidRequest, match=rf"^line {number}: {says}"):
        skill_file.loads("\n".join(lines))


def test_a_missing_field_names_the_line_of_its_entry(stored: skills_pb2.SkillLibrary) -> None:
    text = skill_file.dumps(stored)
    number = line_of(text, '"kind": "FOUND_IN"')
    lines = text.splitlines()
    lines[number - 1] = lines[number - 1].replace('"kind": "FOUND_IN", ', "", 1)
    with pytest.raises(InvalidRequest, match=rf"^line {number}: facts\[0\]\.kind is required"):
        skill_file.loads("\n".join(lines))
    with pytest.raises(InvalidRequest, match=r"^line 1: the library must be an object"):
        skill_file.loads("[]")
