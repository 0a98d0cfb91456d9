"""Reading segment files back, and repairing what a crash left behind.

Every line the store acknowledged was fsynced whole, newline included. So a line without its
newline is a torn write that was never acknowledged, and so is any line that is not a valid
record. Repair copies such bytes to `<segment>.<UTC time>.corrupt` (fsynced first, for
inspection), then cuts them: by truncating the file when they are its tail (the only case a
crash produces), or, for damage in the middle, by rewriting the segment without them through a
temporary file and an atomic rename, so the valid lines after them are kept.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from store_service.records import BadLine, RecordMeta, meta_from_line

log = logging.getLogger(__name__)

_SEGMENT_RE = re.compile(r"trajectories-(\d{6,})\.jsonl")
TEMP_SUFFIX = ".tmp"


def segment_name(number: int) -> str:
    return f"trajectories-{number:06d}.jsonl"


def segment_numbers(directory: Path) -> list[int]:
    numbers = []
    for entry in os.scandir(directory):
        match = _SEGMENT_RE.fullmatch(entry.name)
        if match and entry.is_file():
            numbers.append(int(match.group(1)))
    return sorted(numbers)


def fsync_directory(directory: Path) -> None:
    """Make the creation, removal or renaming of a file in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, *, exclusive: bool = True) -> None:
    """Write a new file and fsync it (the caller fsyncs the directory)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Line:
    offset: int
    # Without the newline.
    length: int
    meta: RecordMeta


@dataclass
class SegmentScan:
    number: int
    path: Path
    size: int
    lines: list[Line] = field(default_factory=list)
    # (start, end, reason) of every byte range that is not a valid, newline-terminated record.
    bad: list[tuple[int, int, str]] = field(default_factory=list)


def scan_segment(path: Path, number: int, data: bytes | None = None) -> SegmentScan:
    data = path.read_bytes() if data is None else data
    scan = SegmentScan(number, path, len(data))
    position = 0
    while position < len(data):
        newline = data.find(b"\n", position)
        if newline == -1:
            scan.bad.append((position, len(data), "torn tail: no newline at the end"))
            break
        try:
            meta = meta_from_line(data[position:newline])
        except BadLine as error:
            scan.bad.append((position, newline + 1, str(error)))
        else:
            scan.lines.append(Line(position, newline - position, meta))
        position = newline + 1
    return scan


def repair_segment(path: Path, number: int) -> tuple[SegmentScan, Path | None, int]:
    """Scan a segment and cut whatever is not a valid record; returns the clean scan, the
    `.corrupt` file holding what was cut (None if nothing was) and how many bytes were cut."""
    data = path.read_bytes()
    scan = scan_segment(path, number, data)
    if not scan.bad:
        return scan, None, 0
    cut = b"".join(data[start:end] for start, end, _ in scan.bad)
    corrupt = _new_corrupt_path(path)
    write_durably(corrupt, cut)
    fsync_directory(path.parent)
    valid_end = scan.lines[-1].offset + scan.lines[-1].length + 1 if scan.lines else 0
    tail_only = scan.bad[0][0] >= valid_end
    if tail_only:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, valid_end)
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        temporary = path.with_name(path.name + TEMP_SUFFIX)
        kept = b"".join(data[line.offset : line.offset + line.length + 1] for line in scan.lines)
        write_durably(temporary, kept, exclusive=False)
        os.replace(temporary, path)
        fsync_directory(path.parent)
    log.warning(
        "cut damaged bytes from a segment",
        extra={
            "segment": path.name,
            "bytes_cut": len(cut),
            "ranges": [[start, end] for start, end, _ in scan.bad][:20],
            "reasons": sorted({reason for _, _, reason in scan.bad})[:5],
            "how": "truncated the torn tail" if tail_only else "rewrote the segment without them",
            "corrupt_file": corrupt.name,
            "lines_kept": len(scan.lines),
        },
    )
    return (scan if tail_only else scan_segment(path, number)), corrupt, len(cut)


def _new_corrupt_path(segment: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    candidate = segment.with_name(f"{segment.name}.{stamp}.corrupt")
    suffix = 1
    while candidate.exists():
        candidate = segment.with_name(f"{segment.name}.{stamp}-{suffix}.corrupt")
        suffix += 1
    return candidate


def remove_temporaries(directory: Path) -> None:
    """A rewrite interrupted by a crash leaves `<segment>.tmp`; the segment itself is intact."""
    for entry in os.scandir(directory):
        name = entry.name.removesuffix(TEMP_SUFFIX)
        if name != entry.name and _SEGMENT_RE.fullmatch(name):
            os.unlink(entry.path)
            log.info("removed an interrupted rewrite", extra={"file": entry.name})


def iter_records(directory: Path) -> Iterator[tuple[RecordMeta, bytes]]:
    """Every valid record in log order, first copy of an id only, without changing any file.

    For readers other than the running store (export): damaged bytes are skipped, not cut.
    """
    seen: set[str] = set()
    for number in segment_numbers(directory):
        path = directory / segment_name(number)
        data = path.read_bytes()
        for line in scan_segment(path, number, data).lines:
            if line.meta.trajectory_id not in seen:
                seen.add(line.meta.trajectory_id)
                yield line.meta, data[line.offset : line.offset + line.length]
