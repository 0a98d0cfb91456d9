"""The writer's messages survive the trip through JSON as themselves, in the documented format."""

from __future__ import annotations

import orjson
import pytest

from store_service.writer_protocol import CommitFailed, Committed, Ready, WriterMessage, decode, encode


@pytest.mark.parametrize(
    "message",
    [
        Ready(pid=4242),
        Committed(3, segment=2, offset=1234, sizes=[10, 0, 12], fsyncs=1, rejected={1: "too big"}),
        Committed(1, segment=1, offset=0, sizes=[0], fsyncs=0, failed={0: "KeyError: 'x'"}),
        CommitFailed(2, error="[Errno 28] No space left on device", errno=28, broken=None),
        CommitFailed(1, error="fsync failed", errno=None, broken="fsync failed: EIO"),
    ],
)
def test_every_message_decodes_to_what_was_encoded(message: WriterMessage) -> None:
    assert decode(encode(message)) == message


def test_the_wire_format_is_the_documented_one() -> None:
    # writer.py's docstring shows these objects; positions are JSON strings.
    assert orjson.loads(encode(Ready(7))) == {"ready": True, "pid": 7}
    assert orjson.loads(encode(Committed(2, 1, 0, [5, 0], 1, rejected={1: "no"}))) == {
        "count": 2,
        "segment": 1,
        "offset": 0,
        "sizes": [5, 0],
        "fsyncs": 1,
        "rejected": {"1": "no"},
        "failed": {},
    }
    assert orjson.loads(encode(CommitFailed(2, "disk", 28, None))) == {
        "count": 2,
        "error": "disk",
        "errno": 28,
        "broken": None,
    }


def test_anything_else_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        decode(b"[1, 2]")
    with pytest.raises(KeyError):
        decode(b'{"count": 1}')
