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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from store_service.records import BadLine, RecordMeta, meta_from_line

log = logging.getLogger(__name__)

_SEGMENT_RE = re.compile(r"trajectories-(\d{6,})\.jsonl")
TEMP_SUFFIX = ".tmp"
T = TypeVar("T")
# (start, end, reason) of a byte range that is not a valid, newline-terminated record.
Bad = tuple[int, int, str]


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
    bad: list[Bad] = field(default_factory=list)


def scan_lines(data: bytes, parse: Callable[[bytes], T]) -> tuple[list[tuple[int, int, T]], list[Bad]]:
    """Every newline-terminated line of `data` that `parse` accepts, as (offset, length without the
    newline, what `parse` made of it), and every byte range that is not one, with the reason.

    `parse` raises BadLine for a line that is not a valid record."""
    good: list[tuple[int, int, T]] = []
    bad: list[Bad] = []
    position = 0
    while position < len(data):
        newline = data.find(b"\n", position)
        if newline == -1:
            bad.append((position, len(data), "torn tail: no newline at the end"))
            break
        try:
            value = parse(data[position:newline])
        except BadLine as error:
            bad.append((position, newline + 1, str(error)))
        else:
            good.append((position, newline - position, value))
        position = newline + 1
    return good, bad


def scan_segment(path: Path, number: int, data: bytes | None = None) -> SegmentScan:
    data = path.read_bytes() if data is None else data
    good, bad = scan_lines(data, meta_from_line)
    return SegmentScan(number, path, len(data), [Line(*line) for line in good], bad)


def repair_segment(path: Path, number: int) -> tuple[SegmentScan, Path | None, int]:
    """Scan a segment and cut whatever is not a valid record; returns the clean scan, the
    `.corrupt` file holding what was cut (None if nothing was) and how many bytes were cut."""
    good, corrupt, cut = repair_file(path, meta_from_line)
    scan = SegmentScan(number, path, path.stat().st_size, [Line(*line) for line in good])
    return scan, corrupt, cut


def repair_file(path: Path, parse: Callable[[bytes], T]) -> tuple[list[tuple[int, int, T]], Path | None, int]:
    """Cut whatever in a file of lines is not a valid record (see `scan_lines`); returns the valid
    lines as they are after the repair, the `.corrupt` file holding what was cut (None if nothing
    was) and how many bytes were cut. The store's segments and its skill library files alike."""
    data = path.read_bytes()
    good, bad = scan_lines(data, parse)
    if not bad:
        return good, None, 0
    cut = b"".join(data[start:end] for start, end, _ in bad)
    corrupt = _new_corrupt_path(path)
    write_durably(corrupt, cut)
    fsync_directory(path.parent)
    valid_end = good[-1][0] + good[-1][1] + 1 if good else 0
    tail_only = bad[0][0] >= valid_end
    if tail_only:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, valid_end)
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        temporary = path.with_name(path.name + TEMP_SUFFIX)
        kept = b"".join(data[offset : offset + length + 1] for offset, length, _ in good)
        write_durably(temporary, kept, exclusive=False)
        os.replace(temporary, path)
        fsync_directory(path.parent)
    log.warning(
        "cut damaged bytes from a segment",
        extra={
            "segment": path.name,
            "bytes_cut": len(cut),
            "ranges": [[start, end] for start, end, _ in bad][:20],
            "reasons": sorted({reason for _, _, reason in bad})[:5],
            "how": "truncated the torn tail" if tail_only else "rewrote the segment without them",
            "corrupt_file": corrupt.name,
            "lines_kept": len(good),
        },
    )
    return (good if tail_only else scan_lines(path.read_bytes(), parse)[0]), corrupt, len(cut)


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
