"""The event loop's handle on the writer (store_service/writer.py): start it, send, read acks, stop.

The writer normally runs as `python -m store_service.writer` in a child process. `in_thread=True`
runs the same code in a thread of this process instead: tests use it to inject I/O faults with
monkeypatch, which cannot reach a child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import threading
from pathlib import Path

from store_service import writer
from store_service.writer_protocol import Ready, WriterMessage, decode

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
# Acknowledgements are small; trajectories only go the other way.
ACK_LIMIT = 64 * 1024 * 1024


class WriterStopped(Exception):
    """The writer went away: its socket closed or broke."""


class WriterClient:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        stream: asyncio.StreamWriter,
        worker: subprocess.Popen[bytes] | threading.Thread,
        pid: int,
    ) -> None:
        self._reader = reader
        self._stream = stream
        self._worker = worker
        self.pid = pid
        self._outbox: list[bytes] = []

    @classmethod
    async def start(
        cls,
        directory: Path,
        segment: int,
        *,
        segment_bytes: int,
        max_line_bytes: int,
        lock_fd: int,
        in_thread: bool = False,
    ) -> WriterClient:
        """Start a writer appending to segment number `segment`; returns once it is ready."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        worker: subprocess.Popen[bytes] | threading.Thread
        try:
            if in_thread:
                worker = threading.Thread(
                    target=writer.run,
                    args=(theirs, directory, segment, segment_bytes, max_line_bytes),
                    name="store-writer",
                    daemon=True,
                )
                worker.start()
            else:
                command = [
                    sys.executable, "-m", "store_service.writer",
                    "--socket-fd", str(theirs.fileno()),
                    "--store-dir", str(directory.resolve()),
                    "--segment", str(segment),
                    "--segment-bytes", str(segment_bytes),
                    "--max-line-bytes", str(max_line_bytes),
                ]  # fmt: skip
                # The lock's descriptor goes along: the directory stays locked while it writes.
                worker = subprocess.Popen(command, pass_fds=(theirs.fileno(), lock_fd), cwd=PROJECT_ROOT)
                theirs.close()
        except BaseException:
            ours.close()
            theirs.close()
            raise
        reader, stream = await asyncio.open_unix_connection(sock=ours, limit=ACK_LIMIT)
        client = cls(reader, stream, worker, pid=0)
        try:
            ready = await asyncio.wait_for(client.receive(), START_TIMEOUT_SECONDS)
        except (WriterStopped, TimeoutError) as error:
            await client.stop()
            raise WriterStopped(f"the writer did not start: {error or 'timed out'}") from None
        if not isinstance(ready, Ready):
            await client.stop()
            raise WriterStopped(f"the writer did not start: it answered {ready!r} before it was ready")
        client.pid = ready.pid
        return client

    def send(self, trajectory: bytes) -> None:
        """Queue one serialized Trajectory; it is acknowledged, in order, by a later `receive`."""
        if not self._outbox:
            # Everything sent in this turn of the event loop goes in one write: fewer system
            # calls here, fewer wake-ups there.
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox += (writer.HEADER.pack(len(trajectory)), trajectory)

    def _flush(self) -> None:
        self._stream.write(b"".join(self._outbox))
        self._outbox.clear()

    async def receive(self) -> WriterMessage:
        """The next message from the writer; WriterStopped once it has gone."""
        try:
            header = await self._reader.readexactly(writer.HEADER.size)
            (size,) = writer.HEADER.unpack(header)
            body = await self._reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            raise WriterStopped(self.exit_description()) from error
        return decode(body)

    def exit_description(self) -> str:
        if isinstance(self._worker, subprocess.Popen):
            code = self._worker.poll()
            return "the writer process is still running" if code is None else f"the writer exited ({code})"
        return "the writer thread has stopped"

    async def stop(self) -> None:
        """Close the socket (the writer finishes its commit, then exits) and wait for it."""
        self._stream.close()
        with contextlib.suppress(ConnectionError):
            await self._stream.wait_closed()
        if isinstance(self._worker, subprocess.Popen):
            try:
                await asyncio.to_thread(self._worker.wait, STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                log.error("the writer did not stop; killing it", extra={"pid": self._worker.pid})
                self._worker.kill()
                await asyncio.to_thread(self._worker.wait)
        else:
            await asyncio.to_thread(self._worker.join, STOP_TIMEOUT_SECONDS)
