"""The human-readable skill library file: what `skills export` writes and `skills import` reads.

The format is the library's proto3 JSON mapping (the field names of skills.proto, as in the
store's JSONL lines, so one set of names serves jq, grpcurl and this file), indented, with every
object or list that fits on one line written on one line (a procedure step, a fact, a step of a
demonstration). Why JSON and not YAML or TOML: the standard library reads and writes it exactly
(PyYAML is a dev-only dependency here, and the standard library has no TOML writer), a library
round-trips byte for byte, and its parser reports the line and column of a syntax error.

Reading checks the document against the schema and the library's rules
(`alfagent_common.skill_library.problems`) and names the line of the first fault, e.g.
`line 41: procedures[0].steps[2].action uses {tol}, which is not among the parameters`.

A file whose content no longer hashes to its `library_id` was edited by a person: it reads as a
new library whose `edited_from` is the id the file had, its lineage (source runs, games,
trajectories) kept, its `created_at` cleared (the store stamps the time it is stored).
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from alfagent.skills.v1 import skills_pb2
from alfagent_common import skill_library
from alfagent_common.errors import InvalidRequest
from alfagent_common.skill_library import Path

WIDTH = 110
_SPACE = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


@dataclass(frozen=True)
class ReadLibrary:
    library: skills_pb2.SkillLibrary
    # Set when the file was edited: the id it was exported with.
    edited_from: str = ""


def dumps(library: skills_pb2.SkillLibrary) -> str:
    """The file's text for `library`."""
    document = json_format.MessageToDict(library, preserving_proto_field_name=True)
    return _pretty(document, 0) + "\n"


def loads(text: str) -> ReadLibrary:
    """The library a file holds, with the edit rule applied (see the module's docstring);
    InvalidRequest naming the line of the first fault."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidRequest(f"line {error.lineno}, column {error.colno}: {error.msg}") from None
    lines = _Locator(text).lines(document)
    faults = _schema_faults(document, skills_pb2.SkillLibrary.DESCRIPTOR, ())
    if faults:
        raise _fault(lines, *faults[0])
    library = json_format.ParseDict(document, skills_pb2.SkillLibrary())
    faults = skill_library.problems(library)
    if faults:
        raise _fault(lines, *faults[0])
    stated = library.library_id
    if stated and stated != skill_library.content_id(library):
        library.edited_from = stated
        library.ClearField("created_at")
        library.library_id = skill_library.content_id(library)
        return ReadLibrary(library, edited_from=stated)
    library.library_id = skill_library.content_id(library)
    return ReadLibrary(library)


def _fault(lines: dict[Path, int], path: Path, message: str) -> InvalidRequest:
    # A missing field has no line of its own: the object that lacks it has.
    place = path
    while place and place not in lines:
        place = place[:-1]
    return InvalidRequest(f"line {lines.get(place, 1)}: {skill_library.show_path(path)} {message}")


# -- writing ---------------------------------------------------------------------------------------


def _pretty(value: Any, indent: int) -> str:
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if not isinstance(value, dict | list) or indent + len(flat) <= WIDTH or not value:
        return flat
    inner = " " * (indent + 2)
    if isinstance(value, list):
        items = [inner + _pretty(item, indent + 2) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    pairs = [
        f"{inner}{json.dumps(key, ensure_ascii=False)}: {_pretty(item, indent + 2)}"
        for key, item in value.items()
    ]
    return "{\n" + ",\n".join(pairs) + "\n" + " " * indent + "}"


# -- reading ---------------------------------------------------------------------------------------


class _Locator:
    """The line of every value of a JSON text that `json.loads` accepted, by its path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [index for index, char in enumerate(text) if char == "\n"]
        self.found: dict[Path, int] = {}

    def lines(self, document: Any) -> dict[Path, int]:
        del document  # the text is walked again; json.loads has already checked it
        self._value(self._skip(0), ())
        return self.found

    def _line(self, position: int) -> int:
        return bisect.bisect_left(self.newlines, position) + 1

    def _skip(self, position: int) -> int:
        match = _SPACE.match(self.text, position)
        return match.end() if match else position

    def _value(self, position: int, path: Path) -> int:
        self.found[path] = self._line(position)
        char = self.text[position]
        if char == '"':
            return json.decoder.scanstring(self.text, position + 1)[1]  # type: ignore[attr-defined,no-any-return]  # scanstring is public but untyped in typeshed
        if char in "{[":
            return self._container(position, path, char == "{")
        match = _SCALAR.match(self.text, position)
        assert match is not None, "json.loads accepted the text"
        return match.end()

    def _container(self, position: int, path: Path, is_object: bool) -> int:
        close = "}" if is_object else "]"
        position = self._skip(position + 1)
        index = 0
        while self.text[position] != close:
            key: str | int = index
            if is_object:
                key, position = json.decoder.scanstring(self.text, position + 1)  # type: ignore[attr-defined]  # as above
                position = self._skip(self._skip(position) + 1)  # past the colon
            position = self._skip(self._value(position, (*path, key)))
            if self.text[position] == ",":
                position = self._skip(position + 1)
            index += 1
        return position + 1


_INTEGER_TYPES = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
}


def _schema_faults(value: Any, descriptor: Descriptor, path: Path) -> list[tuple[Path, str]]:
    """Where the document does not fit the message type, before json_format sees it."""
    if not isinstance(value, dict):
        return [(path, "must be an object ({...})")]
    faults: list[tuple[Path, str]] = []
    for key, item in value.items():
        field = descriptor.fields_by_name.get(key)
        if field is None:
            known = ", ".join(f.name for f in descriptor.fields)
            faults.append(((*path, key), f"is not a field here; the fields are: {known}"))
            continue
        here = (*path, key)
        if field.is_repeated:
            if not isinstance(item, list):
                faults.append((here, "must be a list ([...])"))
                continue
            for index, element in enumerate(item):
                faults.extend(_field_faults(element, field, (*here, index)))
        else:
            faults.extend(_field_faults(item, field, here))
    return faults


def _field_faults(value: Any, field: FieldDescriptor, path: Path) -> list[tuple[Path, str]]:
    if field.message_type is not None:
        if field.message_type.full_name == Timestamp.DESCRIPTOR.full_name:
            try:
                Timestamp().FromJsonString(value)
            except (ValueError, TypeError, AttributeError):
                return [(path, 'must be a time such as "2026-01-31T12:00:00Z"')]
            return []
        return _schema_faults(value, field.message_type, path)
    if field.type == FieldDescriptor.TYPE_STRING and not isinstance(value, str):
        return [(path, "must be a string")]
    if field.type in _INTEGER_TYPES and (not isinstance(value, int) or isinstance(value, bool)):
        return [(path, "must be a whole number")]
    if field.type == FieldDescriptor.TYPE_BOOL and not isinstance(value, bool):
        return [(path, "must be true or false")]
    enum = field.enum_type
    if enum is not None and value not in enum.values_by_name:
        names = ", ".join(v.name for v in enum.values if v.number != 0)
        return [(path, f"must be one of {names}")]
    return []
