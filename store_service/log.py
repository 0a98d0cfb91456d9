"""`TrajectoryLog`: the store's core, a segmented append-only JSONL log with group commit.

Appends from any number of concurrent callers go, as serialized trajectories, to the writer
(store_service/writer.py, a process of its own), which encodes them to lines and commits them:
one write() and one fsync for everything that arrived while it was busy, so under load the fsync
cost is shared (the `fsyncs` / `appended` counters show by how much). Its acknowledgements come
back in order; a line becomes visible to readers, and its callers are answered, only then. Appends
never touch existing bytes; a segment is closed, and the next one created, once it has reached
`segment_bytes` (the batch that crosses the limit stays whole).

If the writer dies, its unanswered appends fail with Unavailable (nothing was acknowledged), the
segments it wrote are scanned again as at start-up (fsynced, a torn tail cut), and a new writer
starts: whatever of those appends reached the disk is then stored once, and a retry finds it.

No grpc here: errors are `alfagent_common.errors` exceptions.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import fcntl
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from alfagent_common.errors import (
    AlfagentError,
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from store_service import recovery
from store_service.index import Index, ListFilter, Location
from store_service.records import RecordMeta, RunStats
from store_service.writer_client import WriterClient, WriterStopped
from store_service.writer_protocol import CommitFailed, Committed, WriterMessage

log = logging.getLogger(__name__)

LOCK_FILE = "LOCK"
# A store that was just killed may leave its writer finishing a commit for a moment; a new store
# waits this long for the directory's lock before it gives up.
LOCK_WAIT_SECONDS = 5.0


class WriterBug(RuntimeError):
    """The writer failed on one trajectory for a reason of its own (reported as INTERNAL)."""


@dataclass(frozen=True)
class RecoveryReport:
    segments: int
    records: int
    duplicates: int
    bytes_cut: int
    corrupt_files: tuple[str, ...]
    seconds: float


@dataclass(slots=True)
class _Pending:
    """A trajectory sent to the writer, and everyone waiting for it (the appender, then any
    caller that sent the same id meanwhile): one future each, so one giving up touches no other."""

    meta: RecordMeta
    waiters: list[asyncio.Future[None]]


class TrajectoryLog:
    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int,
        max_line_bytes: int = 4 * 1024 * 1024,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
        writer_in_thread: bool = False,
    ) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.max_line_bytes = max_line_bytes
        self.lock_wait_seconds = lock_wait_seconds
        self.writer_in_thread = writer_in_thread
        self.index = Index()
        # Counters for benchmarks and logs.
        self.appended = 0
        self.fsyncs = 0
        self.writer_restarts = 0
        self._read_fds: dict[int, int] = {}
        self._active_number = 0
        self._lock_fd = -1
        self._writer: WriterClient | None = None
        self._acks: asyncio.Task[None] | None = None
        # Sent to the writer and not yet acknowledged, in the order sent; and the same by id.
        self._sent: collections.deque[_Pending] = collections.deque()
        self._pending: dict[str, _Pending] = {}
        self._drained = asyncio.Event()
        self._restarting = False
        self._state = "closed"
        self._broken: str | None = None

    # -- opening and closing -------------------------------------------------------------------

    async def open(self) -> RecoveryReport:
        """Lock the directory, repair and index every segment, start the writer on the last one."""
        try:
            report = await asyncio.to_thread(self.recover)
            await self._start_writer()
        except WriterStopped as error:
            self._release()
            raise Unavailable(f"the store could not start its writer process: {error}") from error
        except BaseException:
            self._release()
            raise
        self._state = "open"
        return report

    def recover(self) -> RecoveryReport:
        started = time.perf_counter()
        self.acquire()
        recovery.remove_temporaries(self.directory)
        numbers = recovery.segment_numbers(self.directory) or [self._create_segment(1)]
        duplicates = bytes_cut = 0
        corrupt_files = []
        for number in numbers:
            path = self.directory / recovery.segment_name(number)
            scan, corrupt, cut = recovery.repair_segment(path, number)
            if corrupt is not None:
                corrupt_files.append(corrupt.name)
                bytes_cut += cut
            for line in scan.lines:
                duplicates += not self.index.add(line.meta, Location(number, line.offset, line.length))
            self._read_fds[number] = os.open(path, os.O_RDONLY)
        self._active_number = numbers[-1]
        report = RecoveryReport(
            segments=len(numbers),
            records=len(self.index),
            duplicates=duplicates,
            bytes_cut=bytes_cut,
            corrupt_files=tuple(corrupt_files),
            seconds=round(time.perf_counter() - started, 3),
        )
        if duplicates:
            log.warning("ignored later copies of ids already stored", extra={"duplicates": duplicates})
        log.info("store recovered", extra={"store_dir": str(self.directory), **report.__dict__})
        return report

    @property
    def writer_pid(self) -> int | None:
        return None if self._writer is None else self._writer.pid

    async def _start_writer(self) -> None:
        self._writer = await WriterClient.start(
            self.directory,
            self._active_number,
            segment_bytes=self.segment_bytes,
            max_line_bytes=self.max_line_bytes,
            lock_fd=self._lock_fd,
            in_thread=self.writer_in_thread,
        )
        self._acks = asyncio.create_task(self._receive_acks(self._writer))

    async def close(self) -> None:
        """Finish the appends under way, stop the writer, release files and the directory lock."""
        if self._state == "closed":
            self._release()  # locked by acquire() but never opened
            return
        self._state = "closing"
        while self._sent or self._restarting:
            self._drained.clear()
            await self._drained.wait()
        if self._writer is not None:
            await self._writer.stop()
        if self._acks is not None:
            await self._acks
        self._release()
        log.info(
            "store closed",
            extra={"appended": self.appended, "fsyncs": self.fsyncs, "writer_restarts": self.writer_restarts},
        )

    def _release(self) -> None:
        for fd in [*self._read_fds.values(), self._lock_fd]:
            if fd >= 0:
                os.close(fd)
        self._read_fds.clear()
        self._lock_fd = -1
        self._state = "closed"

    def acquire(self) -> None:
        """Create the directory if needed and lock it (FailedPrecondition if another store has it).

        `open` does this too; calling it first fails fast, before anything else starts."""
        if self._lock_fd >= 0:
            return
        try:
            created = not self.directory.exists()
            self.directory.mkdir(parents=True, exist_ok=True)
            if created:
                recovery.fsync_directory(self.directory.parent)
            self._lock_fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise FailedPrecondition(f"cannot use {self.directory} as the store directory: {error}") from None
        deadline = time.monotonic() + self.lock_wait_seconds
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self._lock_fd)
                    self._lock_fd = -1
                    raise FailedPrecondition(f"{self.directory} is in use by another store process") from None
                time.sleep(0.05)

    def _create_segment(self, number: int) -> int:
        path = self.directory / recovery.segment_name(number)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        recovery.fsync_directory(self.directory)
        return number

    # -- appending -----------------------------------------------------------------------------

    async def append(self, trajectory: bytes, meta: RecordMeta) -> bool:
        """Store a serialized Trajectory durably; False if its id is stored (or being stored).

        InvalidRequest if its line would be over `max_line_bytes`; `meta` is `records.meta_of`
        the same trajectory."""
        trajectory_id = meta.trajectory_id
        while True:
            self._check_writable()
            assert self._writer is not None
            if trajectory_id in self.index:
                return False
            in_flight = self._pending.get(trajectory_id)
            if in_flight is None:
                break
            # Answer only once the copy in flight is durable. A failure of the store's (the disk,
            # the writer) is this caller's too; but if that copy itself was refused (too big, or
            # it could not be encoded), this caller's own copy gets its own answer.
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            in_flight.waiters.append(waiter)
            try:
                await waiter
            except (InvalidRequest, WriterBug):
                continue
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = self._pending[trajectory_id] = _Pending(meta, [future])
        self._sent.append(pending)
        self._writer.send(trajectory)
        # A caller that goes away (its future cancelled) does not stop the write.
        await future
        return True

    async def _receive_acks(self, writer: WriterClient) -> None:
        try:
            while True:
                self._settle(await writer.receive())
        except WriterStopped as error:
            self._writer = None
            self._fail_sent(
                Unavailable("the store's writer stopped before this append was acknowledged; retry")
            )
            await writer.stop()  # closes our end; reaps the process
            if self._state == "open":
                log.error("the writer stopped; restarting it", extra={"reason": str(error)})
                self._restarting = True
                try:
                    await self._restart_writer()
                finally:
                    self._restarting = False
        except Exception as error:  # a bug here must not leave appends waiting for ever
            log.exception("could not handle the writer's answer", exc_info=error)
            self._broken = "it could not handle its writer's answer; see the log"
            self._fail_sent(Unavailable(f"the store {self._broken}"))
        finally:
            self._drained.set()

    def _settle(self, ack: WriterMessage) -> None:
        if not isinstance(ack, Committed | CommitFailed):
            raise TypeError(f"the writer sent {ack!r} where an acknowledgement was due")
        batch = [self._sent.popleft() for _ in range(ack.count)]
        if isinstance(ack, CommitFailed):
            failure = self._failure(ack)
            for pending in batch:
                self._answer(pending, failure)
        else:
            self._store(batch, ack)
        if not self._sent:
            self._drained.set()

    def _store(self, batch: list[_Pending], ack: Committed) -> None:
        number, offset = ack.segment, ack.offset
        if number != self._active_number:
            path = self.directory / recovery.segment_name(number)
            self._read_fds[number] = os.open(path, os.O_RDONLY)
            self._active_number = number
            log.info("started a new segment", extra={"segment": path.name})
        for position, (pending, size) in enumerate(zip(batch, ack.sizes, strict=True)):
            if size == 0:
                rejection = ack.rejected.get(position)
                if rejection is not None:
                    self._answer(pending, InvalidRequest(rejection))
                else:  # not the caller's fault: INTERNAL, details in the log only
                    self._answer(
                        pending, WriterBug(f"the writer could not encode it: {ack.failed[position]}")
                    )
                continue
            self.index.add(pending.meta, Location(number, offset, size - 1))
            offset += size
            self.appended += 1
            self._answer(pending, None)
        self.fsyncs += ack.fsyncs

    def _answer(self, pending: _Pending, failure: Exception | None) -> None:
        del self._pending[pending.meta.trajectory_id]
        for waiter in pending.waiters:
            if waiter.done():
                continue
            if failure is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(failure)

    def _fail_sent(self, failure: AlfagentError) -> None:
        while self._sent:
            self._answer(self._sent.popleft(), failure)

    def _failure(self, ack: CommitFailed) -> AlfagentError:
        log.error("append failed", extra={"error": ack.error, "broken": ack.broken})
        if ack.broken is not None:
            self._broken = ack.broken
        if ack.errno in (errno.ENOSPC, errno.EDQUOT) and self._broken is None:
            return ResourceExhausted(f"no space left in {self.directory}; nothing was stored")
        return Unavailable("the store could not write its log; nothing was stored, retry later")

    async def _restart_writer(self) -> None:
        """Index what the writer that died had written, then start a new one on the last segment."""
        try:
            found = await asyncio.to_thread(self._rescan_from, self._active_number)
            for number, lines in found:
                if number not in self._read_fds:
                    self._read_fds[number] = os.open(
                        self.directory / recovery.segment_name(number), os.O_RDONLY
                    )
                for line in lines:
                    self.index.add(line.meta, Location(number, line.offset, line.length))
                self._active_number = number
            await self._start_writer()
        except Exception as error:
            self._broken = f"could not restart the writer: {error}"
            log.exception("could not restart the writer", exc_info=error)
            return
        self.writer_restarts += 1
        log.info("writer restarted", extra={"pid": self._writer.pid if self._writer else None})

    def _rescan_from(self, first: int) -> list[tuple[int, list[recovery.Line]]]:
        found = []
        for number in recovery.segment_numbers(self.directory):
            if number < first:
                continue
            path = self.directory / recovery.segment_name(number)
            # Lines the writer wrote but never fsynced are in the page cache: make them durable
            # before anyone is told they are stored.
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            scan = recovery.scan_segment(path, number)
            if scan.bad:
                valid_end = scan.lines[-1].offset + scan.lines[-1].length + 1 if scan.lines else 0
                if scan.bad[0][0] < valid_end:
                    # Lines already indexed would move if the segment were rewritten now.
                    raise RuntimeError(f"{path.name} is damaged before its end")
                scan, _, _ = recovery.repair_segment(path, number)  # cuts the torn tail
            found.append((number, scan.lines))
        return found

    def _check_writable(self) -> None:
        if self._state != "open":
            raise Unavailable(f"the store is {'starting' if self._state == 'closed' else 'stopping'}")
        if self._broken is not None:
            raise Unavailable(f"the store stopped accepting appends ({self._broken}); restart it")
        if self._writer is None:
            raise Unavailable("the store is restarting its writer; retry in a moment")

    # -- reading -------------------------------------------------------------------------------

    def read(self, trajectory_id: str) -> bytes:
        """The stored line (without `\\n`) of a trajectory; NotFound if there is none."""
        self._check_readable()
        location = self.index.get(trajectory_id)
        if location is None:
            raise NotFound(f"no trajectory with trajectory_id {trajectory_id!r}")
        return self._read(location)

    def page(self, selection: ListFilter, start: int, limit: int, max_bytes: int) -> tuple[list[bytes], int]:
        """Up to `limit` lines matching `selection` from position `start`, stopping early past
        `max_bytes` (at least one line); and the position after the last one returned."""
        self._check_readable()
        lines: list[bytes] = []
        total = 0
        for location in self.index.page(selection, start, limit):
            if lines and total + location.length > max_bytes:
                break
            lines.append(self._read(location))
            total += location.length
        return lines, start + len(lines)

    def count(self, selection: ListFilter) -> int:
        return self.index.count(selection)

    def stats(self, run_id: str) -> RunStats:
        self._check_readable()
        return self.index.stats(run_id)

    def _read(self, location: Location) -> bytes:
        # Durable lines are in the page cache or on disk; a pread of one is microseconds.
        data = os.pread(self._read_fds[location.segment], location.length, location.offset)
        if len(data) != location.length:
            raise Unavailable(f"segment {location.segment} is shorter than its index says")
        return data

    def _check_readable(self) -> None:
        if self._state == "closed":
            raise Unavailable("the store is starting")
