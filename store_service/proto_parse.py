"""A faster `json_format.ParseDict(document, message, ignore_unknown_fields=True)`.

The inverse of `proto_json`: GetTrajectory and ListTrajectories turn stored JSON back into
protos, and json_format's field-by-field Python walk costs ~1 ms for a 10 kB trajectory. Here the
walk uses setters built once per message type. It handles what this store writes (and the
lowerCamelCase names json_format also accepts); anything else (nulls, numbers written as strings
where the mapping allows them, bytes fields, well-known types other than Timestamp/Duration/
FieldMask, wrong types) makes it give up, and `parse` then lets json_format parse the whole
document, so results and errors are json_format's. tests/store/test_store_proto_json.py checks
both paths against json_format.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

# (json value, message to fill) -> None
Fill = Callable[[Any, Message], None]
Convert = Callable[[Any], Any]
_JSON_STRING_TYPES = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
_NON_FINITE = {"NaN", "Infinity", "-Infinity"}
_INT64 = {FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64}
_FLOAT32_MAX = 3.4028234663852886e38
_INT32 = {FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32}


class _GiveUp(Exception):
    """The fast path does not handle this document; json_format will."""


M = TypeVar("M", bound=Message)


def parse(document: Any, message: M) -> M:
    """Fill `message` from its proto3 JSON form (unknown fields ignored) and return it."""
    try:
        _filler(message.DESCRIPTOR)(document, message)
    except (_GiveUp, AttributeError, KeyError, TypeError, ValueError, OverflowError):
        message.Clear()
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    return message


@functools.cache
def _filler(descriptor: Descriptor) -> Fill:
    if descriptor.full_name in _JSON_STRING_TYPES:
        return _from_json_string
    if descriptor.full_name.startswith("google.protobuf.") or descriptor.GetOptions().map_entry:
        raise _GiveUp(descriptor.full_name)
    table: dict[str, Fill] = {}
    for field in descriptor.fields:
        table[field.name] = table[field.json_name] = _field_filler(field)

    def fill(value: Any, message: Message) -> None:
        if type(value) is not dict:
            raise _GiveUp("not an object")
        for key, item in value.items():
            setter = table.get(key)
            if setter is not None:
                setter(item, message)

    return fill


def _from_json_string(value: Any, message: Message) -> None:
    if type(value) is not str:
        raise _GiveUp("not a string")
    message.FromJsonString(value)  # type: ignore[attr-defined]  # a method of the well-known types only


def _field_filler(field: FieldDescriptor) -> Fill:
    name = field.name
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        return _map_filler(field)
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        assert message_type is not None

        if field.is_repeated:

            def fill_messages(value: Any, message: Message) -> None:
                if type(value) is not list:
                    raise _GiveUp("not a list")
                container = getattr(message, name)
                fill = _filler(message_type)
                for item in value:
                    fill(item, container.add())

            return fill_messages

        def fill_message(value: Any, message: Message) -> None:
            sub = getattr(message, name)
            sub.SetInParent()
            _filler(message_type)(value, sub)

        return fill_message

    convert = _scalar_converter(field)
    if field.is_repeated:

        def fill_scalars(value: Any, message: Message) -> None:
            if type(value) is not list:
                raise _GiveUp("not a list")
            getattr(message, name).extend([convert(item) for item in value])

        return fill_scalars

    def fill_scalar(value: Any, message: Message) -> None:
        setattr(message, name, convert(value))

    return fill_scalar


def _map_filler(field: FieldDescriptor) -> Fill:
    name = field.name
    entry = field.message_type
    assert entry is not None
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    if key_field.cpp_type != FieldDescriptor.CPPTYPE_STRING:
        raise _GiveUp("only string map keys")
    value_type = value_field.message_type
    convert = None if value_type is not None else _scalar_converter(value_field)

    def fill_map(value: Any, message: Message) -> None:
        if type(value) is not dict:
            raise _GiveUp("not an object")
        target = getattr(message, name)
        for key, item in value.items():
            if convert is not None:
                target[key] = convert(item)
            else:
                assert value_type is not None
                _filler(value_type)(item, target[key])

    return fill_map


def _scalar_converter(field: FieldDescriptor) -> Convert:
    cpp_type = field.cpp_type
    if cpp_type in _INT32:
        return _exact(int)
    if cpp_type in _INT64:
        return _int64
    if cpp_type == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    if cpp_type == FieldDescriptor.CPPTYPE_FLOAT:
        return _float
    if cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return _exact(bool)
    if cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        enum_type = field.enum_type
        assert enum_type is not None
        numbers = {value.name: value.number for value in enum_type.values}
        if enum_type.full_name == "google.protobuf.NullValue":
            raise _GiveUp("NullValue")
        return lambda value: numbers[value] if type(value) is str else _exact(int)(value)
    if field.type == FieldDescriptor.TYPE_STRING:
        return _exact(str)
    raise _GiveUp(f"field type {field.type}")


def _exact(kind: type) -> Convert:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise _GiveUp(f"not a {kind.__name__}")
        return value

    return check


def _int64(value: Any) -> int:
    if type(value) is str and value.lstrip("-").isdigit():
        return int(value)
    if type(value) is int:
        return value
    raise _GiveUp("not an integer")


def _double(value: Any) -> float:
    if type(value) is float or type(value) is int:
        if not math.isfinite(value):
            raise _GiveUp("a bare NaN or Infinity")  # json_format words the error
        return float(value)
    if type(value) is str and value in _NON_FINITE:
        return float(value)
    raise _GiveUp("not a number")


def _float(value: Any) -> float:
    number = _double(value)
    if math.isfinite(number) and abs(number) > _FLOAT32_MAX:
        raise _GiveUp("too large for a float")
    return number
