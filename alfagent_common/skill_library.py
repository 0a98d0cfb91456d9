"""A skill library's identity and the rules every stored library keeps, for the store and the agent.

The id is a content hash: "sha256:" + the hex SHA-256 of the library's canonical form, its proto3
JSON mapping (proto field names, default values left out) without `library_id` and `created_at`,
keys sorted, compact, UTF-8. The same bytes come out of `jq -cS 'del(.library_id, .created_at)'`
applied to a stored line, so anyone can check an id with jq and sha256sum. `created_at` is left out
so that extracting the same trajectories twice gives the same library, whenever it is done.

`problems` lists what makes a library unusable (a procedure step naming a parameter it does not
declare, a fact without a kind ...), each with the path of the field at fault, so that the store
can refuse it naming the field and a file import can name the line.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Iterator

from google.protobuf import json_format

from alfagent.skills.v1 import skills_pb2
from alfagent_common.errors import InvalidRequest

ID_PREFIX = "sha256:"
_ID_RE = re.compile(r"sha256:[0-9a-f]{64}")
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

# A field's place in a library: ("procedures", 0, "steps", 1, "action").
Path = tuple[str | int, ...]


def canonical_bytes(library: skills_pb2.SkillLibrary) -> bytes:
    """What the id hashes: see the module's docstring."""
    content = skills_pb2.SkillLibrary()
    content.CopyFrom(library)
    content.ClearField("library_id")
    content.ClearField("created_at")
    document = json_format.MessageToDict(content, preserving_proto_field_name=True)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_id(library: skills_pb2.SkillLibrary) -> str:
    return ID_PREFIX + hashlib.sha256(canonical_bytes(library)).hexdigest()


def check_id(value: str, field: str = "library_id") -> str:
    """`value` if it has the form of a library id, else InvalidRequest."""
    if _ID_RE.fullmatch(value) is None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise InvalidRequest(f"{field} {shown!r} is not a library id ('sha256:' and 64 hex digits)")
    return value


def show_path(path: Path) -> str:
    """("procedures", 0, "steps") -> "procedures[0].steps"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the library"


def problems(library: skills_pb2.SkillLibrary) -> list[tuple[Path, str]]:
    """Everything that makes `library` unusable, with the path of the field at fault; [] if none."""
    return list(_problems(library))


def check(library: skills_pb2.SkillLibrary) -> str:
    """The library's id (computed if it has none); InvalidRequest naming the first problem, or a
    library_id that is not the hash of the content."""
    found = problems(library)
    if found:
        path, message = found[0]
        raise InvalidRequest(f"{show_path(path)}: {message}")
    actual = content_id(library)
    if library.library_id and library.library_id != actual:
        raise InvalidRequest(
            f"library_id {library.library_id!r} is not the hash of the library's content, {actual!r}; "
            "leave library_id empty to have it computed"
        )
    return actual


def _problems(library: skills_pb2.SkillLibrary) -> Iterator[tuple[Path, str]]:
    if library.library_id and _ID_RE.fullmatch(library.library_id) is None:
        yield ("library_id",), "is not a library id ('sha256:' and 64 hex digits)"
    if library.edited_from and _ID_RE.fullmatch(library.edited_from) is None:
        yield ("edited_from",), "is not a library id ('sha256:' and 64 hex digits)"
    for field in ("source_run_ids", "source_game_ids", "source_trajectory_ids"):
        for index, value in enumerate(getattr(library, field)):
            if not value:
                yield (field, index), "is empty"
    for index, demonstration in enumerate(library.demonstrations):
        here: Path = ("demonstrations", index)
        if not demonstration.task_type:
            yield (*here, "task_type"), "is required"
        if not demonstration.steps:
            yield (*here, "steps"), "a demonstration needs at least one step"
    for index, fact in enumerate(library.facts):
        here = ("facts", index)
        if fact.kind == skills_pb2.FACT_KIND_UNSPECIFIED:
            yield (*here, "kind"), f"is required: one of {', '.join(_fact_kinds())}"
        if fact.count < 1:
            yield (*here, "count"), "must be at least 1"
    names: set[str] = set()
    for index, procedure in enumerate(library.procedures):
        yield from _procedure_problems(procedure, ("procedures", index), names)


def _procedure_problems(
    procedure: skills_pb2.Procedure, here: Path, names: set[str]
) -> Iterator[tuple[Path, str]]:
    if _NAME_RE.fullmatch(procedure.name) is None:
        yield (*here, "name"), f"{procedure.name!r} is not a name (a letter, then letters, digits or _)"
    elif procedure.name in names:
        yield (*here, "name"), f"{procedure.name!r} is the name of an earlier procedure too"
    names.add(procedure.name)
    declared: set[str] = set()
    for index, parameter in enumerate(procedure.parameters):
        if _NAME_RE.fullmatch(parameter.name) is None or parameter.name in declared:
            yield (*here, "parameters", index, "name"), f"{parameter.name!r} is not a new parameter name"
        declared.add(parameter.name)
    if not procedure.steps:
        yield (*here, "steps"), "a procedure needs at least one step"
    for index, step in enumerate(procedure.steps):
        if not step.action.strip():
            yield (*here, "steps", index, "action"), "is empty"
        for field in ("action", "expect"):
            try:
                used = placeholders(getattr(step, field))
            except ValueError as error:
                yield (*here, "steps", index, field), f"is not a template: {error}"
                continue
            for name in sorted(used - declared):
                yield (*here, "steps", index, field), f"uses {{{name}}}, which is not among the parameters"


def placeholders(template: str) -> set[str]:
    """The `{name}`s of a template; ValueError for an unmatched brace or a format spec."""
    names = set()
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or spec or conversion:
            raise ValueError(f"{{{name}}} is not a plain {{name}}")
        names.add(name)
    return names


def _fact_kinds() -> list[str]:
    return [value.name for value in skills_pb2.FactKind.DESCRIPTOR.values if value.number != 0]
