"""`SkillLibraryLog`: the store's skill libraries, one JSON line each, with the trajectories' discipline.

Files `$STORE_DIR/skills/libraries-000001.jsonl`, ... (a new one once the last has reached
`segment_bytes`), appended to and never rewritten. A put is acknowledged only after its line is
written and fsynced; a library_id is stored once (a second put answers created=false); at start-up
a torn tail, or any line that is not a library, is cut to a `.corrupt` file, as the trajectory
segments are (`recovery.repair_file`). Puts are rare and large, so there is no writer process and
no group commit: one put at a time writes with `writer.SegmentWriter` on a thread of its own.

No grpc here; `skill_records` is the edge to protobuf. The directory is the store's, locked by
`TrajectoryLog` before this opens.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from alfagent_common.errors import InvalidRequest, NotFound, ResourceExhausted, Unavailable
from store_service import recovery
from store_service.skill_records import LibraryMeta, meta_from_line
from store_service.writer import Broken, SegmentWriter

log = logging.getLogger(__name__)

DIRECTORY = "skills"
_FILE_RE = re.compile(r"libraries-(\d{6,})\.jsonl")


def file_name(number: int) -> str:
    return f"libraries-{number:06d}.jsonl"


@dataclass(frozen=True, slots=True)
class _Stored:
    meta: LibraryMeta
    number: int
    offset: int
    # Without the newline.
    length: int


class SkillLibraryLog:
    def __init__(self, store_dir: Path, *, segment_bytes: int, max_line_bytes: int) -> None:
        self.directory = store_dir / DIRECTORY
        self.segment_bytes = segment_bytes
        self.max_line_bytes = max_line_bytes
        # In the order stored (ListSkillLibraries pages through it), and by id.
        self._order: list[_Stored] = []
        self._by_id: dict[str, _Stored] = {}
        self._read_fds: dict[int, int] = {}
        self._writer: SegmentWriter | None = None
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._order)

    async def open(self) -> int:
        """Repair and index the library files; returns how many libraries are stored."""
        return await asyncio.to_thread(self.recover)

    def recover(self) -> int:
        if not self.directory.exists():
            self.directory.mkdir()
            recovery.fsync_directory(self.directory.parent)
        numbers = self._numbers() or [self._create_first()]
        for number in numbers:
            path = self.directory / file_name(number)
            lines, corrupt, _ = recovery.repair_file(path, meta_from_line)
            for offset, length, meta in lines:
                if meta.library_id in self._by_id:
                    log.warning("ignored a later copy of a library", extra={"library_id": meta.library_id})
                    continue
                self._index(_Stored(meta, number, offset, length))
            self._read_fds[number] = os.open(path, os.O_RDONLY)
            if corrupt is not None:
                log.warning("cut damaged bytes from a skill library file", extra={"file": corrupt.name})
        self._writer = SegmentWriter(self.directory, numbers[-1], self.segment_bytes, name=file_name)
        log.info("skill libraries recovered", extra={"libraries": len(self._order), "files": len(numbers)})
        return len(self._order)

    def _numbers(self) -> list[int]:
        found = []
        for entry in os.scandir(self.directory):
            match = _FILE_RE.fullmatch(entry.name)
            if match and entry.is_file():
                found.append(int(match.group(1)))
        return sorted(found)

    def _create_first(self) -> int:
        os.close(os.open(self.directory / file_name(1), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        recovery.fsync_directory(self.directory)
        return 1

    def _index(self, stored: _Stored) -> None:
        self._order.append(stored)
        self._by_id[stored.meta.library_id] = stored

    async def close(self) -> None:
        """After the put under way, if any (a put's caller may have gone, its write goes on)."""
        async with self._lock:
            self._close()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for fd in self._read_fds.values():
            os.close(fd)
        self._read_fds.clear()

    # -- storing -------------------------------------------------------------------------------

    async def put(self, line: bytes, meta: LibraryMeta) -> bool:
        """Store a library's line (`skill_records.encode`) durably; False if its id is stored.

        A caller that goes away does not interrupt a write under way, nor the puts after it."""
        return await asyncio.shield(self._put(line, meta))

    async def _put(self, line: bytes, meta: LibraryMeta) -> bool:
        if len(line) > self.max_line_bytes:
            limit = self.max_line_bytes
            raise InvalidRequest(f"library {meta.library_id} is {len(line)} bytes; the limit is {limit}")
        async with self._lock:
            if meta.library_id in self._by_id:
                return False
            number, offset = await asyncio.to_thread(self._commit, self._writable(), line)
            if number not in self._read_fds:
                self._read_fds[number] = os.open(self.directory / file_name(number), os.O_RDONLY)
            self._index(_Stored(meta, number, offset, len(line) - 1))
            return True

    def _commit(self, writer: SegmentWriter, line: bytes) -> tuple[int, int]:
        """Write and fsync one line; (file number, offset). Failures as the trajectories' are."""
        try:
            number, offset, _ = writer.commit(line)
        except Broken as error:
            raise Unavailable(f"the store stopped accepting skill libraries ({error}); restart it") from None
        except OSError as error:
            log.error("could not store a skill library", extra={"error": str(error)})
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ResourceExhausted(f"no space left in {self.directory}; nothing was stored") from None
            raise Unavailable("the store could not write the library; nothing stored, retry later") from None
        return number, offset

    def _writable(self) -> SegmentWriter:
        """The writer, once the files are recovered (reads wait for that too)."""
        if self._writer is None:
            raise Unavailable("the store is starting; retry in a moment")
        return self._writer

    # -- reading -------------------------------------------------------------------------------

    def read(self, library_id: str) -> bytes:
        """The stored line (without `\\n`) of a library; NotFound if there is none."""
        self._writable()
        stored = self._by_id.get(library_id)
        if stored is None:
            raise NotFound(f"no skill library with library_id {library_id!r}")
        data = os.pread(self._read_fds[stored.number], stored.length, stored.offset)
        if len(data) != stored.length:
            raise Unavailable(f"{file_name(stored.number)} is shorter than its index says")
        return data

    def page(self, start: int, limit: int) -> list[LibraryMeta]:
        """Up to `limit` summaries from position `start`, oldest first."""
        self._writable()
        return [stored.meta for stored in self._order[start : start + limit]]
