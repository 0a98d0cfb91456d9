"""store_service.proto_json and proto_parse must give exactly what json_format gives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.message import Message

from alfagent.store.v1 import store_pb2
from alfagent.trajectory.v1 import trajectory_pb2
from store_service.proto_json import message_to_dict
from store_service.proto_parse import parse
from tests.store.store_harness import sample_trajectory

F = descriptor_pb2.FieldDescriptorProto


def _message_class(name: str, *, everything: bool) -> Any:
    """A proto3 message with every scalar type, repeated, maps, enums, recursion and WKTs.

    everything=False leaves out what proto_parse hands to json_format (bytes, Struct, wrappers,
    non-string map keys), so that message exercises the fast parse path only.
    """
    package = f"pjtest{name.lower()}"
    file = descriptor_pb2.FileDescriptorProto(name=f"{package}.proto", package=package, syntax="proto3")
    file.dependency.extend(
        module.DESCRIPTOR.name for module in (timestamp_pb2, duration_pb2, struct_pb2, wrappers_pb2)
    )
    colour = file.enum_type.add(name="Colour")
    for number, value_name in enumerate(["COLOUR_UNSPECIFIED", "RED", "GREEN"]):
        colour.value.add(name=value_name, number=number)
    message = file.message_type.add(name=name)
    scalars = [
        ("i32", F.TYPE_INT32),
        ("i64", F.TYPE_INT64),
        ("u32", F.TYPE_UINT32),
        ("u64", F.TYPE_UINT64),
        ("s64", F.TYPE_SINT64),
        ("fx64", F.TYPE_FIXED64),
        ("f32", F.TYPE_FLOAT),
        ("f64", F.TYPE_DOUBLE),
        ("flag", F.TYPE_BOOL),
        ("text", F.TYPE_STRING),
        ("two_words", F.TYPE_STRING),
    ]
    if everything:
        scalars.append(("blob", F.TYPE_BYTES))
    number = 0
    for repeated in (False, True):
        for field_name, kind in scalars:
            number += 1
            label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
            message.field.add(
                name=("rep_" if repeated else "") + field_name, number=number, type=kind, label=label
            )
    for field_name, label in (("colour", F.LABEL_OPTIONAL), ("rep_colour", F.LABEL_REPEATED)):
        number += 1
        message.field.add(
            name=field_name, number=number, type=F.TYPE_ENUM, type_name=f".{package}.Colour", label=label
        )
    messages = [
        ("child", f".{package}.{name}", F.LABEL_OPTIONAL),
        ("children", f".{package}.{name}", F.LABEL_REPEATED),
        ("when", ".google.protobuf.Timestamp", F.LABEL_OPTIONAL),
        ("took", ".google.protobuf.Duration", F.LABEL_OPTIONAL),
    ]
    if everything:
        messages.append(("extra", ".google.protobuf.Struct", F.LABEL_OPTIONAL))
        messages.append(("wrapped", ".google.protobuf.Int64Value", F.LABEL_OPTIONAL))
    for field_name, type_name, label in messages:
        number += 1
        message.field.add(
            name=field_name, number=number, type=F.TYPE_MESSAGE, type_name=type_name, label=label
        )
    maps = [
        ("by_name", F.TYPE_STRING, F.TYPE_INT64, ""),
        ("floats", F.TYPE_STRING, F.TYPE_FLOAT, ""),
        ("by_label", F.TYPE_STRING, F.TYPE_MESSAGE, f".{package}.{name}"),
    ]
    if everything:
        maps.append(("by_flag", F.TYPE_BOOL, F.TYPE_STRING, ""))
        maps.append(("by_number", F.TYPE_INT32, F.TYPE_MESSAGE, f".{package}.{name}"))
    for map_name, key_type, value_type, value_type_name in maps:
        entry_name = "".join(part.title() for part in map_name.split("_")) + "Entry"
        entry = message.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=key_type, label=F.LABEL_OPTIONAL)
        value = entry.field.add(name="value", number=2, type=value_type, label=F.LABEL_OPTIONAL)
        if value_type_name:
            value.type_name = value_type_name
        number += 1
        message.field.add(
            name=map_name,
            number=number,
            type=F.TYPE_MESSAGE,
            type_name=f".{package}.{name}.{entry_name}",
            label=F.LABEL_REPEATED,
        )
    # A proto3 `optional` field: presence, so it is printed even at its default.
    message.oneof_decl.add(name="_maybe")
    number += 1
    message.field.add(
        name="maybe",
        number=number,
        type=F.TYPE_INT32,
        label=F.LABEL_OPTIONAL,
        oneof_index=0,
        proto3_optional=True,
    )
    pool = descriptor_pool.Default()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))


Every = _message_class("Every", everything=True)
Plain = _message_class("Plain", everything=False)


def _same_as_json_format(message: Message) -> None:
    expected = json_format.MessageToDict(message, preserving_proto_field_name=True)
    got = message_to_dict(message)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    # Non-finite floats are strings in JSON, so plain equality holds too.
    assert got == expected
    _parses_like_json_format(type(message), expected)
    _parses_like_json_format(type(message), json_format.MessageToDict(message))  # lowerCamelCase names


def _parses_like_json_format(kind: Any, document: Any) -> None:
    """Same message, or the same error, as json_format.ParseDict(ignore_unknown_fields=True)."""
    try:
        expected = json_format.ParseDict(document, kind(), ignore_unknown_fields=True)
    except json_format.ParseError:
        with pytest.raises(json_format.ParseError):
            parse(document, kind())
        return
    got = parse(document, kind())
    # Bytes, not ==: NaN != NaN would make equal messages differ.
    assert got.SerializeToString(deterministic=True) == expected.SerializeToString(deterministic=True)


def edge_values(kind: Any) -> Any:
    message = kind(
        i32=-(2**31),
        i64=-(2**63),
        u32=2**32 - 1,
        u64=2**64 - 1,
        s64=-5,
        fx64=2**53 + 1,
        f32=0.1,
        f64=1e-300,
        flag=True,
        text='é ✓ \n "quoted" \u2028 \x00',
        two_words="camel",
        rep_i32=[1, -1, 0],
        rep_i64=[2**62, 0],
        rep_f32=[float("nan"), float("inf"), float("-inf"), 1e-45, 3.4e38, 0.3, -2.5],
        rep_f64=[float("nan"), 0.1, -0.0],
        rep_flag=[True, False],
        rep_text=["a", ""],
        colour=1,
        rep_colour=[0, 2, 99],
        maybe=0,
        by_name={"a": 2**40, "": -1},
        floats={"x": 0.1, "nan": float("nan")},
    )
    message.child.text = "nested"
    message.child.child.i64 = 7
    message.children.add(f32=1.5).children.add(colour=99)
    message.children.add()
    message.by_label["k"].text = "value message"
    message.by_label["empty"].SetInParent()
    message.when.FromSeconds(1_790_000_000)
    message.when.nanos = 5000
    message.took.FromMilliseconds(1500)
    if kind is Every:
        message.blob = bytes(range(256))
        message.rep_blob.extend([b"", b"\xff"])
        message.by_flag.update({True: "yes", False: "no"})
        message.by_number[3].text = "value message"
        message.extra.update({"k": [1, "two", None, {"x": True}]})
        message.wrapped.value = 12
    return message


@pytest.mark.parametrize("kind", [Every, Plain])
def test_empty_message(kind: Any) -> None:
    _same_as_json_format(kind())


@pytest.mark.parametrize("kind", [Every, Plain])
def test_every_field_type_with_edge_values(kind: Any) -> None:
    _same_as_json_format(edge_values(kind))


def test_unknown_enum_value_and_default_scalars_are_handled_like_json_format() -> None:
    _same_as_json_format(Every(colour=42, f64=0.0, text=""))


def test_real_messages() -> None:
    trajectory = sample_trajectory("t-1", steps=4)
    trajectory.retry_causes["429"] = 2
    trajectory.settings.temperature = 0.7
    _same_as_json_format(trajectory)
    stats = store_pb2.StoreStats(run_id="r", trajectories=3)
    stats.overall.prompt_tokens = 2**40
    stats.overall.success_rate = 2 / 3
    _same_as_json_format(stats)


@pytest.mark.parametrize("value", [0.1, 1 / 3, 16777217.0, 1e-38, 123456.789, -0.0, 2.5e-7])
def test_float32_shortest_form(value: float) -> None:
    _same_as_json_format(Every(f32=value, rep_f32=[value]))


def test_what_the_store_writes_never_needs_json_format(monkeypatch: pytest.MonkeyPatch) -> None:
    documents = [
        (Plain, message_to_dict(edge_values(Plain))),
        (trajectory_pb2.Trajectory, message_to_dict(sample_trajectory("t", steps=3))),
    ]

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the fast path gave up")

    monkeypatch.setattr(json_format, "ParseDict", refuse)
    for kind, document in documents:
        assert message_to_dict(parse(document, kind())) == document


@pytest.mark.parametrize(
    "document",
    [
        {"i32": "5"},
        {"i32": 5.0},
        {"i32": 5.5},
        {"i32": 2**40},
        {"i32": True},
        {"i64": 5},
        {"i64": "-12"},
        {"i64": "1e3"},
        {"f64": "1.5"},
        {"f64": float("nan")},
        {"f64": float("inf")},
        {"f32": 1e39},
        {"f32": "-Infinity"},
        {"flag": "true"},
        {"flag": 1},
        {"text": None},
        {"text": 5},
        {"child": None},
        {"child": []},
        {"colour": "BLUE"},
        {"colour": 7},
        {"rep_text": "not a list"},
        {"rep_text": ["a", None]},
        {"by_name": {"a": "5"}},
        {"by_name": []},
        {"when": "not a time"},
        {"when": 5},
        {"no_such_field": {"deep": [1]}},
        {"twoWords": "camel", "two_words": "snake"},
    ],
)
def test_unusual_documents_parse_like_json_format(document: dict[str, Any]) -> None:
    _parses_like_json_format(Plain, document)
    _parses_like_json_format(Every, document)
