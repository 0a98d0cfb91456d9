"""The store's writer: encodes trajectories to lines, appends them and fsyncs, in a process of its own.

`TrajectoryLog` (in the store's main process) sends each trajectory the moment it arrives. This
side encodes it to its JSON line and, as soon as no more input is waiting, writes every line
encoded so far with one write(), makes them durable with one fsync and acknowledges them together:
group commit, with batches as large as the load makes them (under concurrent load a batch may
wait up to half a millisecond to grow). Why a process: in the gRPC process, encoding and the
commit thread's hand-offs held the GIL that the thread serving gRPC needs, and that thread was
what limited appends (bench/RESULTS.md); here they run on the other core.

Wire format, both ways over one Unix stream socket: frames of a 4-byte little-endian length and a
body. Towards the writer a body is a serialized `Trajectory`; from the writer it is a JSON object
(writer_protocol.py types them: `Ready`, `Committed`, `CommitFailed`): first
`{"ready": true, "pid": ...}`, then one acknowledgement per commit, covering the next `count`
trajectories in the order they were sent:

    {"count": 3, "segment": 2, "offset": 1234, "sizes": [10383, 0, 10390], "fsyncs": 1,
     "rejected": {"1": "trajectory 'x' is ... bytes as JSON; the limit is ..."}}
    {"count": 2, "error": "[Errno 28] No space left on device", "errno": 28, "broken": null}

`sizes[i]` is the stored line's length with its newline, 0 for a trajectory not stored: `rejected`
(it cannot be stored: too big, not a trajectory) or `failed` (encoding it raised; a bug, logged
here); lines sit back to back from `offset`. An error means none of the `count` was stored;
`broken` is set when the writer will refuse every later commit (a failed fsync, or a failed write
it could not undo).

No grpc and no asyncio here. The process ignores SIGINT and SIGTERM: it stops when the main process
closes the socket (shutdown, or the main process died), after the commit under way. It inherits
the store directory's lock, so no new store opens the directory while an old writer still writes.
"""

from __future__ import annotations

import argparse
import errno as errno_codes
import logging
import os
import select
import signal
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError

from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_common import logs
from alfagent_common.errors import InvalidRequest
from store_service import records, recovery
from store_service.writer_protocol import CommitFailed, Committed, Ready, WriterMessage, encode

log = logging.getLogger(__name__)

HEADER = struct.Struct("<I")
RECEIVE_BYTES = 1 << 20
# The longest a commit waits for more lines once the batch has started (see `more_is_coming`).
COMMIT_DELAY_SECONDS = 0.0005


class Broken(Exception):
    """The segment's state on disk is unknown; appending more could tear or lose lines."""


class SegmentWriter:
    """Appends to the active segment with write + fsync; starts the next segment once it is full.

    A batch is written whole or not at all: a failed write is cut off again, so that the file
    still ends on a line boundary. A batch that crosses `segment_bytes` stays in one segment.
    `name` gives a segment's file name from its number (the skill library files have their own).
    """

    def __init__(
        self,
        directory: Path,
        number: int,
        segment_bytes: int,
        name: Callable[[int], str] = recovery.segment_name,
    ) -> None:
        self.directory = directory
        self.number = number
        self.segment_bytes = segment_bytes
        self._name = name
        self._fd = os.open(directory / name(number), os.O_WRONLY | os.O_APPEND)
        self.size = os.fstat(self._fd).st_size
        self.broken: str | None = None

    def commit(self, data: bytes) -> tuple[int, int, int]:
        """Append `data` durably; returns (segment number, offset it starts at, fsyncs made)."""
        if self.broken is not None:
            raise Broken(self.broken)
        fsyncs = 0
        if self.size >= self.segment_bytes:
            self._start_next_segment()
            fsyncs += 1
        start = self.size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            try:
                os.ftruncate(self._fd, start)
            except OSError as error:
                self.broken = f"could not undo a failed write: {error}"
            raise
        try:
            os.fsync(self._fd)
        except OSError as error:
            # After a failed fsync the kernel may have dropped the dirty pages: trust nothing more.
            self.broken = f"fsync failed: {error}"
            raise
        self.size = start + len(data)
        return self.number, start, fsyncs + 1

    def _start_next_segment(self) -> None:
        number = self.number + 1
        path = self.directory / self._name(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            recovery.fsync_directory(self.directory)
        except OSError:
            os.close(fd)
            raise
        os.close(self._fd)
        self._fd, self.number, self.size = fd, number, 0

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class Batch:
    """Trajectories received since the last commit, encoded, in the order they came."""

    lines: list[bytes] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)

    def add(self, body: bytes, max_line_bytes: int) -> None:
        try:
            line = records.encode_line(trajectory_pb2.Trajectory.FromString(body), max_line_bytes)
        except (InvalidRequest, DecodeError) as error:
            self.rejected[len(self.sizes)] = str(error) or "not a serialized Trajectory"
            self.sizes.append(0)
            return
        except Exception as error:  # a bug: fail this one trajectory, not the writer
            log.exception("could not encode a trajectory", exc_info=error)
            self.failed[len(self.sizes)] = f"{type(error).__name__}: {error}"
            self.sizes.append(0)
            return
        self.lines.append(line)
        self.sizes.append(len(line))

    def commit(self, segment: SegmentWriter) -> Committed | CommitFailed:
        count = len(self.sizes)
        try:
            if self.lines:
                number, offset, fsyncs = segment.commit(b"".join(self.lines))
            else:  # every one rejected: nothing to write
                number, offset, fsyncs = segment.number, segment.size, 0
        except (OSError, Broken) as error:
            code = error.errno if isinstance(error, OSError) else None
            log.error("commit failed", extra={"error": str(error), "broken": segment.broken})
            return CommitFailed(count, str(error), code, segment.broken)
        return Committed(count, number, offset, self.sizes, fsyncs, self.rejected, self.failed)


def take_frames(buffer: bytearray) -> list[bytes]:
    """Remove every complete frame from the front of `buffer`; returns their bodies."""
    bodies = []
    position = 0
    while len(buffer) - position >= HEADER.size:
        (size,) = HEADER.unpack_from(buffer, position)
        end = position + HEADER.size + size
        if end > len(buffer):
            break
        bodies.append(bytes(buffer[position + HEADER.size : end]))
        position = end
    del buffer[:position]
    return bodies


def send(sock: socket.socket, message: WriterMessage) -> None:
    body = encode(message)
    sock.sendall(HEADER.pack(len(body)) + body)


def more_is_coming(sock: socket.socket, batch: int, last_batch: int, deadline: float) -> bool:
    """Whether to hold the commit for more input (True once some has come, within the deadline).

    Under concurrent load a commit of one or two lines is followed by another right away; waiting
    a little for the batch to reach the last one's size saves fsyncs (16 clients: 0.36 -> 0.29
    per append, and more appends per second). A lone caller, whose batches are single, never
    waits.
    """
    remaining = deadline - time.monotonic()
    if batch >= last_batch or remaining <= 0:
        return False
    return bool(select.select([sock], [], [], remaining)[0])


def serve(sock: socket.socket, segment: SegmentWriter, max_line_bytes: int) -> None:
    """Answer until the other end closes the socket."""
    send(sock, Ready(os.getpid()))
    buffer = bytearray()
    closed = False
    last_batch = 0
    while not closed:
        chunk = sock.recv(RECEIVE_BYTES)  # nothing is waiting to be committed: block
        if not chunk:
            break
        buffer += chunk
        batch = Batch()
        deadline = time.monotonic() + COMMIT_DELAY_SECONDS
        while True:
            for body in take_frames(buffer):
                batch.add(body, max_line_bytes)
            # Whatever has arrived meanwhile joins this commit.
            try:
                chunk = sock.recv(RECEIVE_BYTES, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if not more_is_coming(sock, len(batch.sizes), last_batch, deadline):
                    break
                continue
            if not chunk:
                closed = True
                break
            buffer += chunk
        last_batch = len(batch.sizes)
        if batch.sizes:
            try:
                send(sock, batch.commit(segment))
            except OSError as error:
                if error.errno not in (errno_codes.EPIPE, errno_codes.ECONNRESET):
                    raise
                break  # the main process is gone; what was committed stays committed
    segment.close()


def run(sock: socket.socket, directory: Path, number: int, segment_bytes: int, max_line_bytes: int) -> None:
    """The writer's whole life on `sock` (a process's or, in tests, a thread's)."""
    with sock:
        serve(sock, SegmentWriter(directory, number, segment_bytes), max_line_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m store_service.writer", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--socket-fd", type=int, required=True)
    parser.add_argument("--store-dir", type=Path, required=True)
    parser.add_argument("--segment", type=int, required=True)
    parser.add_argument("--segment-bytes", type=int, required=True)
    parser.add_argument("--max-line-bytes", type=int, required=True)
    args = parser.parse_args()
    # Ctrl-C reaches the whole process group; only the main process decides when writing stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logs.configure("store_service", os.environ.get("LOG_LEVEL", "INFO").upper())
    sock = socket.socket(fileno=args.socket_fd)
    run(sock, args.store_dir, args.segment, args.segment_bytes, args.max_line_bytes)


if __name__ == "__main__":
    main()
