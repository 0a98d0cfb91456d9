"""`TrajectoryLog`: the store's core, a segmented append-only JSONL log with group commit.

Appends from any number of concurrent callers are queued on the event loop; one commit at a time
writes every queued line with one write() and makes them durable with one fsync, in a dedicated
thread so the event loop keeps serving; then every waiter is answered together. While a commit
is in the thread the next batch accumulates, so under load the fsync cost is shared (the
`fsyncs` / `appended` counters show by how much). A line becomes visible to readers only once it
is durable. Appends never touch existing bytes; a segment is closed, and the next one created,
once it has reached `segment_bytes` (the batch that crosses the limit stays whole).

No grpc here: errors are `alfagent_common.errors` exceptions.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from alfagent_common.errors import FailedPrecondition, NotFound, ResourceExhausted, Unavailable
from store_service import recovery
from store_service.index import Index, ListFilter, Location
from store_service.records import RecordMeta, TaskAggregate

log = logging.getLogger(__name__)

LOCK_FILE = "LOCK"


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
    """A line waiting for its commit, and everyone waiting for it (the appender, then any
    caller that sent the same id meanwhile): one future each, so one giving up touches no other."""

    line: bytes
    meta: RecordMeta
    waiters: list[asyncio.Future[None]]


class TrajectoryLog:
    def __init__(self, directory: Path, *, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.index = Index()
        # Counters for benchmarks and logs.
        self.appended = 0
        self.fsyncs = 0
        self._read_fds: dict[int, int] = {}
        self._active_number = 0
        self._active_fd = -1
        self._active_size = 0
        self._lock_fd = -1
        self._queue: list[_Pending] = []
        self._pending: dict[str, _Pending] = {}
        self._committer: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._state = "closed"
        self._broken: str | None = None

    # -- opening and closing -------------------------------------------------------------------

    async def open(self) -> RecoveryReport:
        """Lock the directory, repair and index every segment, open the last one for appends."""
        try:
            report = await asyncio.to_thread(self.recover)
        except BaseException:
            self._release()
            raise
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-commit")
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
        active = self.directory / recovery.segment_name(self._active_number)
        self._active_fd = os.open(active, os.O_WRONLY | os.O_APPEND)
        self._active_size = os.fstat(self._active_fd).st_size
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

    async def close(self) -> None:
        """Finish the commits under way, then release files and the directory lock."""
        if self._state == "closed":
            self._release()  # locked by acquire() but never opened
            return
        self._state = "closing"
        if self._committer is not None:
            await asyncio.shield(self._committer)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._release()
        log.info("store closed", extra={"appended": self.appended, "fsyncs": self.fsyncs})

    def _release(self) -> None:
        for fd in [*self._read_fds.values(), self._active_fd, self._lock_fd]:
            if fd >= 0:
                os.close(fd)
        self._read_fds.clear()
        self._active_fd = self._lock_fd = -1
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
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise FailedPrecondition(f"{self.directory} is in use by another store process") from None

    def _create_segment(self, number: int) -> int:
        path = self.directory / recovery.segment_name(number)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        recovery.fsync_directory(self.directory)
        return number

    # -- appending -----------------------------------------------------------------------------

    async def append(self, line: bytes, meta: RecordMeta) -> bool:
        """Store one `\\n`-terminated line durably; False if its id is stored (or being stored)."""
        self._check_writable()
        trajectory_id = meta.trajectory_id
        if trajectory_id in self.index:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        in_flight = self._pending.get(trajectory_id)
        if in_flight is not None:
            # Answer only once the first copy is durable; its failure is this caller's too.
            in_flight.waiters.append(future)
            await future
            return False
        pending = self._pending[trajectory_id] = _Pending(line, meta, [future])
        self._queue.append(pending)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued())
        # A caller that goes away (its future cancelled) does not stop the write.
        await future
        return True

    async def _commit_queued(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                locations = await loop.run_in_executor(self._executor, self._write, [p.line for p in batch])
            except Exception as error:
                failure = self._failure(error)
                for pending in batch:
                    del self._pending[pending.meta.trajectory_id]
                    for waiter in pending.waiters:
                        if not waiter.done():
                            waiter.set_exception(failure)
                continue
            for pending, location in zip(batch, locations, strict=True):
                self.index.add(pending.meta, location)
                del self._pending[pending.meta.trajectory_id]
                for waiter in pending.waiters:
                    if not waiter.done():
                        waiter.set_result(None)
            self.appended += len(batch)

    def _write(self, lines: list[bytes]) -> list[Location]:
        """In the commit thread: append `lines` to the active segment and fsync it."""
        if self._active_size >= self.segment_bytes:
            self._rotate()
        start = self._active_size
        view = memoryview(b"".join(lines))
        try:
            while view:
                view = view[os.write(self._active_fd, view) :]
        except OSError:
            # Cut a partial write so that the file still ends on a line boundary.
            try:
                os.ftruncate(self._active_fd, start)
            except OSError as error:
                self._broken = f"could not undo a failed write: {error}"
            raise
        try:
            os.fsync(self._active_fd)
        except OSError as error:
            # After a failed fsync the kernel may have dropped the dirty pages: trust nothing more.
            self._broken = f"fsync failed: {error}"
            raise
        self.fsyncs += 1
        locations = []
        offset = start
        for line in lines:
            locations.append(Location(self._active_number, offset, len(line) - 1))
            offset += len(line)
        self._active_size = offset
        return locations

    def _rotate(self) -> None:
        number = self._active_number + 1
        path = self.directory / recovery.segment_name(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        recovery.fsync_directory(self.directory)
        self.fsyncs += 1
        self._read_fds[number] = os.open(path, os.O_RDONLY)
        os.close(self._active_fd)
        self._active_fd, self._active_number, self._active_size = fd, number, 0
        log.info("started a new segment", extra={"segment": path.name})

    def _failure(self, error: Exception) -> Exception:
        log.error("append failed", exc_info=error, extra={"broken": self._broken})
        disk_full = isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
        if disk_full and self._broken is None:
            return ResourceExhausted(f"no space left in {self.directory}; nothing was stored")
        return Unavailable("the store could not write its log; nothing was stored, retry later")

    def _check_writable(self) -> None:
        if self._state != "open":
            raise Unavailable(f"the store is {'starting' if self._state == 'closed' else 'stopping'}")
        if self._broken is not None:
            raise Unavailable(f"the store stopped accepting appends ({self._broken}); restart it")

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

    def stats(self, run_id: str) -> list[TaskAggregate]:
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
