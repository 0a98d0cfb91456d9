"""The core log on its own: no grpc, a temp directory as the only fake."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from alfagent_common.errors import (
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from store_service import records, writer
from store_service.index import ListFilter
from store_service.log import TrajectoryLog, WriterBug
from store_service.records import RunStats
from store_service.writer_protocol import WriterMessage
from tests.store.store_harness import appendable, sample_trajectory

T = TypeVar("T")


def run(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(body())


def line_for(trajectory_id: str, **fields: Any) -> bytes:
    """The line the store writes for a sample trajectory."""
    return records.encode_line(sample_trajectory(trajectory_id, **fields), 1 << 20)


def entry_for(trajectory_id: str, **fields: Any) -> tuple[bytes, records.RecordMeta]:
    """What `TrajectoryLog.append` takes for a sample trajectory."""
    return appendable(sample_trajectory(trajectory_id, **fields))


def stored_lines(directory: Path) -> list[bytes]:
    lines = []
    for path in sorted(directory.glob("trajectories-*.jsonl")):
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"{path.name} does not end on a line boundary"
        lines.extend(data.splitlines())
    return lines


def stored_ids(directory: Path) -> list[str]:
    return [json.loads(line)["trajectory_id"] for line in stored_lines(directory)]


async def opened(directory: Path, segment_bytes: int = 1 << 20, **options: Any) -> TrajectoryLog:
    log = TrajectoryLog(directory, segment_bytes=segment_bytes, **options)
    await log.open()
    return log


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


def test_append_read_and_reopen(store_dir: Path) -> None:
    async def body() -> None:
        log = await opened(store_dir)
        line = line_for("t-1")
        assert await log.append(*entry_for("t-1")) is True
        assert log.read("t-1") + b"\n" == line
        with pytest.raises(NotFound, match="t-2"):
            log.read("t-2")
        await log.close()
        reopened = await opened(store_dir)
        assert reopened.read("t-1") + b"\n" == line
        await reopened.close()

    run(body)
    assert stored_ids(store_dir) == ["t-1"]


def test_same_id_twice_is_stored_once(store_dir: Path) -> None:
    async def body() -> list[bool]:
        log = await opened(store_dir)
        first = await log.append(*entry_for("t-1"))
        second = await log.append(*entry_for("t-1", won=False))
        await log.close()
        return [first, second]

    assert run(body) == [True, False]
    assert stored_ids(store_dir) == ["t-1"]


def test_same_id_from_16_concurrent_callers_is_stored_once(store_dir: Path) -> None:
    async def body() -> list[bool]:
        log = await opened(store_dir)
        created = await asyncio.gather(*(log.append(*entry_for("same")) for _ in range(16)))
        await log.close()
        return created

    assert sorted(run(body)) == [False] * 15 + [True]
    assert stored_ids(store_dir) == ["same"]


def test_a_refused_copy_in_flight_does_not_answer_for_a_later_copy_of_its_id(store_dir: Path) -> None:
    limit = 8 * 1024
    too_big, small = entry_for("twice", steps=40), entry_for("twice", steps=1)
    assert len(line_for("twice", steps=40)) > limit > len(line_for("twice", steps=1))

    async def body() -> list[bool | BaseException]:
        log = await opened(store_dir, max_line_bytes=limit)
        # Both in one turn of the loop: the small copy arrives while the big one is in flight.
        results = list(await asyncio.gather(log.append(*too_big), log.append(*small), return_exceptions=True))
        results.append(await log.append(*too_big))  # now stored: a duplicate, whatever its size
        await log.close()
        return results

    refused, created, again = run(body)
    assert isinstance(refused, InvalidRequest) and "limit" in str(refused)
    assert (created, again) == (True, False)
    assert stored_ids(store_dir) == ["twice"]


def test_concurrent_appends_share_fsyncs(store_dir: Path) -> None:
    async def body() -> TrajectoryLog:
        log = await opened(store_dir)
        await asyncio.gather(*(log.append(*entry_for(f"t-{n}")) for n in range(200)))
        await log.close()
        return log

    log = run(body)
    assert log.appended == 200
    # The first append commits alone; everything queued behind it shares the next few fsyncs.
    assert log.fsyncs <= 10
    assert sorted(stored_ids(store_dir)) == sorted(f"t-{n}" for n in range(200))


def test_segments_rotate_at_the_configured_size(store_dir: Path) -> None:
    async def body() -> None:
        log = await opened(store_dir, segment_bytes=4096)
        for n in range(30):
            await log.append(*entry_for(f"t-{n}", steps=1))
        for n in range(30):
            assert json.loads(log.read(f"t-{n}"))["trajectory_id"] == f"t-{n}"
        await log.close()
        reopened = await opened(store_dir, segment_bytes=4096)
        assert len(reopened.index) == 30
        assert json.loads(reopened.read("t-29"))["trajectory_id"] == "t-29"
        await reopened.close()

    run(body)
    segments = sorted(store_dir.glob("trajectories-*.jsonl"))
    assert len(segments) > 3
    assert all(path.stat().st_size >= 4096 for path in segments[:-1])
    assert stored_ids(store_dir) == [f"t-{n}" for n in range(30)]


def test_index_is_rebuilt_in_the_same_order(store_dir: Path) -> None:
    async def body() -> None:
        log = await opened(store_dir, segment_bytes=8192)
        for n in range(40):
            await log.append(
                *entry_for(f"t-{n}", run_id=f"run-{n % 2}", won=n % 3 == 0, task_type=f"k{n % 4}")
            )
        selections = [ListFilter(), ListFilter("run-1"), ListFilter("run-0", "k2"), ListFilter(won=True)]
        before = [log.page(selection, 0, 100, 1 << 30) for selection in selections]
        await log.close()
        reopened = await opened(store_dir, segment_bytes=8192)
        assert [reopened.page(selection, 0, 100, 1 << 30) for selection in selections] == before
        assert [len(lines) for lines, _ in before] == [40, 20, 10, 14]
        await reopened.close()

    run(body)


def test_page_stops_at_the_byte_budget_but_returns_at_least_one(store_dir: Path) -> None:
    async def body() -> None:
        log = await opened(store_dir)
        for n in range(5):
            await log.append(*entry_for(f"t-{n}"))
        size = len(log.read("t-0"))
        lines, end = log.page(ListFilter(), 0, 10, max_bytes=2 * size)
        assert (len(lines), end) == (2, 2)
        lines, end = log.page(ListFilter(), 4, 10, max_bytes=1)
        assert (len(lines), end) == (1, 5)
        await log.close()

    run(body)


def test_stats_per_run_and_task_type(store_dir: Path) -> None:
    async def body() -> None:
        log = await opened(store_dir)
        await log.append(*entry_for("a", run_id="r1", task_type="pick", won=True, steps=2))
        await log.append(*entry_for("b", run_id="r1", task_type="pick", won=False, steps=4))
        await log.append(*entry_for("c", run_id="r1", task_type="heat", won=True, steps=6))
        await log.append(*entry_for("d", run_id="r2", task_type="pick", won=True, steps=8))
        r1 = log.stats("r1")
        by_task = r1.by_task_type
        assert (by_task["pick"].episodes, by_task["pick"].wins, by_task["pick"].steps) == (2, 1, 6)
        assert (by_task["heat"].episodes, by_task["heat"].wins) == (1, 1)
        assert r1.trajectories == 3
        everything = {task_type: tally.episodes for task_type, tally in log.stats("").by_task_type.items()}
        assert everything == {"pick": 3, "heat": 1}
        assert log.stats("nobody") == RunStats({}, 0)
        await log.close()

    run(body)


def test_torn_tail_is_cut_kept_in_a_corrupt_file_and_logged(
    store_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def fill() -> bytes:
        log = await opened(store_dir)
        await log.append(*entry_for("t-0"))
        await log.close()
        return line_for("t-1")

    torn = run(fill)[:100]
    segment = store_dir / "trajectories-000001.jsonl"
    with segment.open("ab") as stream:
        stream.write(torn)

    async def reopen() -> None:
        log = await opened(store_dir)
        assert len(log.index) == 1
        assert await log.append(*entry_for("t-1")) is True
        await log.close()

    with caplog.at_level(logging.WARNING):
        run(reopen)
    corrupt = list(store_dir.glob("*.corrupt"))
    assert len(corrupt) == 1 and corrupt[0].name.startswith("trajectories-000001.jsonl.")
    assert corrupt[0].read_bytes() == torn
    assert stored_ids(store_dir) == ["t-0", "t-1"]
    warning = next(
        record for record in caplog.records if record.getMessage() == "cut damaged bytes from a segment"
    )
    assert warning.__dict__["bytes_cut"] == 100 and warning.__dict__["how"] == "truncated the torn tail"


def test_zero_filled_tail_after_power_loss_is_cut(store_dir: Path) -> None:
    async def fill() -> None:
        log = await opened(store_dir)
        await log.append(*entry_for("t-0"))
        await log.close()

    run(fill)
    with (store_dir / "trajectories-000001.jsonl").open("ab") as stream:
        stream.write(b"\0" * 4096)

    async def reopen() -> int:
        log = await opened(store_dir)
        await log.close()
        return len(log.index)

    assert run(reopen) == 1
    assert stored_ids(store_dir) == ["t-0"]


def test_damage_in_the_middle_keeps_the_valid_lines_after_it(store_dir: Path) -> None:
    lines = [line_for(f"t-{n}") for n in range(3)]
    store_dir.mkdir()
    segment = store_dir / "trajectories-000001.jsonl"
    segment.write_bytes(lines[0] + b'{"half a line\n' + lines[1] + b"not json\n" + lines[2])

    async def reopen() -> None:
        log = TrajectoryLog(store_dir, segment_bytes=1 << 20)
        report = await log.open()
        assert (report.records, report.bytes_cut, len(report.corrupt_files)) == (3, 23, 1)
        assert [json.loads(log.read(f"t-{n}"))["trajectory_id"] for n in range(3)] == ["t-0", "t-1", "t-2"]
        await log.close()

    run(reopen)
    assert segment.read_bytes() == b"".join(lines)
    (corrupt,) = store_dir.glob("*.corrupt")
    assert corrupt.read_bytes() == b'{"half a line\nnot json\n'
    assert not list(store_dir.glob("*.tmp"))


def test_a_later_copy_of_an_id_in_the_files_is_ignored(store_dir: Path) -> None:
    store_dir.mkdir()
    first = line_for("dup", won=True)
    later = line_for("dup", won=False)
    (store_dir / "trajectories-000001.jsonl").write_bytes(first + later)

    async def reopen() -> None:
        log = await opened(store_dir)
        assert len(log.index) == 1 and json.loads(log.read("dup"))["won"] is True
        await log.close()

    run(reopen)


def test_leftovers_of_an_interrupted_recovery_and_an_empty_last_segment(store_dir: Path) -> None:
    store_dir.mkdir()
    (store_dir / "trajectories-000001.jsonl").write_bytes(line_for("t-0"))
    (store_dir / "trajectories-000002.jsonl").write_bytes(b"")
    (store_dir / "trajectories-000001.jsonl.tmp").write_bytes(b"partial rewrite")
    (store_dir / "notes.txt").write_bytes(b"not ours")

    async def reopen() -> None:
        log = await opened(store_dir)
        await log.append(*entry_for("t-1"))
        await log.close()

    run(reopen)
    assert not (store_dir / "trajectories-000001.jsonl.tmp").exists()
    assert (store_dir / "notes.txt").exists()
    assert (store_dir / "trajectories-000002.jsonl").read_bytes().startswith(b'{"trajectory_id":"t-1"')


def test_a_second_process_cannot_open_the_same_directory(store_dir: Path) -> None:
    async def body() -> None:
        log = await opened(store_dir)
        with pytest.raises(FailedPrecondition, match="in use"):
            await opened(store_dir, lock_wait_seconds=0)
        await log.close()
        await (await opened(store_dir)).close()

    run(body)


def test_calls_before_open_or_after_close(store_dir: Path) -> None:
    async def body() -> None:
        log = TrajectoryLog(store_dir, segment_bytes=1 << 20)
        with pytest.raises(Unavailable, match="starting"):
            await log.append(*entry_for("t"))
        with pytest.raises(Unavailable):
            log.read("t")
        await log.open()
        await log.close()
        with pytest.raises(Unavailable):
            await log.append(*entry_for("t"))

    run(body)


def test_close_finishes_queued_appends(store_dir: Path) -> None:
    async def body() -> None:
        log = await opened(store_dir)
        appends = [asyncio.create_task(log.append(*entry_for(f"t-{n}"))) for n in range(50)]
        await asyncio.sleep(0)
        await log.close()
        assert all(task.result() for task in appends)

    run(body)
    assert len(stored_ids(store_dir)) == 50


def test_a_caller_that_gives_up_does_not_cancel_the_write(store_dir: Path) -> None:
    async def body() -> None:
        log = await opened(store_dir)
        task = asyncio.create_task(log.append(*entry_for("t-0")))
        await asyncio.sleep(0)
        task.cancel()
        assert await log.append(*entry_for("t-0")) is False
        await log.close()

    run(body)
    assert stored_ids(store_dir) == ["t-0"]


def test_giving_up_affects_only_the_caller_that_gave_up(store_dir: Path) -> None:
    async def body() -> None:
        log = await opened(store_dir)
        owner = asyncio.create_task(log.append(*entry_for("t-0")))
        await asyncio.sleep(0)
        duplicate = asyncio.create_task(log.append(*entry_for("t-0")))
        impatient = asyncio.create_task(log.append(*entry_for("t-0")))
        await asyncio.sleep(0)
        owner.cancel()
        impatient.cancel()
        assert await duplicate is False
        assert owner.cancelled() and impatient.cancelled()
        await log.close()

    run(body)
    assert stored_ids(store_dir) == ["t-0"]


def test_a_killed_writer_is_replaced_and_nothing_is_lost_or_stored_twice(store_dir: Path) -> None:
    count = 2000

    async def body() -> list[bool]:
        log = await opened(store_dir, segment_bytes=64 * 1024)
        killed = log.writer_pid
        assert killed is not None and killed != os.getpid()

        async def append_until_stored(n: int) -> bool:
            while True:
                try:
                    return await log.append(*entry_for(f"t-{n}"))
                except Unavailable:  # in flight when the writer died, or during its restart
                    await asyncio.sleep(0.01)

        appends = []
        for n in range(count):  # a steady stream, so that some are in flight at the kill
            appends.append(asyncio.create_task(append_until_stored(n)))
            if n % 10 == 0:
                await asyncio.sleep(0.001)
            if n == count // 4:
                os.kill(killed, signal.SIGKILL)
        created = await asyncio.gather(*appends)
        assert log.writer_restarts == 1 and log.writer_pid not in (None, killed)
        assert all(json.loads(log.read(f"t-{n}"))["trajectory_id"] == f"t-{n}" for n in range(count))
        await log.close()
        return created

    created = run(body)
    # An append the dead writer had made durable is found by its retry (created=False).
    assert len(created) == count
    assert sorted(stored_ids(store_dir)) == sorted(f"t-{n}" for n in range(count))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_lines_a_dying_writer_made_durable_are_found_not_written_again(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_send = writer.send
    acks = 0

    def send_then_die_on_the_third_ack(sock: socket.socket, message: WriterMessage) -> None:
        nonlocal acks
        acks += 1
        if acks == 3:  # after its commit: durable on disk, never acknowledged
            raise RuntimeError("the writer dies here")
        real_send(sock, message)

    monkeypatch.setattr(writer, "send", send_then_die_on_the_third_ack)

    async def body() -> list[bool | str]:
        log = await opened(store_dir, writer_in_thread=True)
        outcomes: list[bool | str] = [await log.append(*entry_for("t-0"))]
        try:
            await log.append(*entry_for("t-1"))
        except Unavailable:
            outcomes.append("unavailable")
        for _ in range(500):  # the writer restarts in the background
            if log.writer_restarts:
                break
            await asyncio.sleep(0.01)
        for n in (1, 2, 3):  # t-1 again: the caller's retry
            outcomes.append(await log.append(*entry_for(f"t-{n}")))
        await log.close()
        return outcomes

    # Answers: "ready", t-0, then t-1's commit, which dies unanswered.
    assert run(body) == [True, "unavailable", False, True, True]
    assert stored_ids(store_dir) == ["t-0", "t-1", "t-2", "t-3"]


def test_the_writer_is_a_process_that_stops_with_the_log(store_dir: Path) -> None:
    async def body() -> int:
        log = await opened(store_dir)
        pid = log.writer_pid
        assert pid is not None and pid != os.getpid()
        os.kill(pid, signal.SIGTERM)  # ignored: only the log decides when writing stops
        os.kill(pid, signal.SIGINT)
        assert await log.append(*entry_for("t-0")) is True
        assert log.writer_pid == pid and log.writer_restarts == 0  # the same writer answered
        await log.close()
        return pid

    pid = run(body)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.fixture
def faulty_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Make os.write / os.fsync fail on segment files only, on demand (in this process: open the
    log with `writer_in_thread=True`)."""
    faults: dict[str, Any] = {"write": None, "fsync": None}
    real_write, real_fsync = os.write, os.fsync

    def is_segment(fd: int) -> bool:
        try:
            return "trajectories-" in os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return False

    def write(fd: int, data: Any) -> int:
        if faults["write"] is not None and is_segment(fd):
            real_write(fd, bytes(data)[:10])  # a partial write, then the error
            raise OSError(faults["write"], os.strerror(faults["write"]))
        return real_write(fd, data)

    def fsync(fd: int) -> None:
        if faults["fsync"] is not None and is_segment(fd):
            raise OSError(faults["fsync"], os.strerror(faults["fsync"]))
        real_fsync(fd)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)
    yield faults


def test_disk_full_is_reported_and_leaves_no_partial_line(store_dir: Path, faulty_io: dict[str, Any]) -> None:
    async def body() -> None:
        log = await opened(store_dir, writer_in_thread=True)
        await log.append(*entry_for("t-0"))
        faulty_io["write"] = errno.ENOSPC
        with pytest.raises(ResourceExhausted, match="no space"):
            await log.append(*entry_for("t-1"))
        faulty_io["write"] = None
        assert await log.append(*entry_for("t-1")) is True
        await log.close()

    run(body)
    assert stored_ids(store_dir) == ["t-0", "t-1"]


def test_after_a_failed_fsync_appends_stop_but_reads_go_on(
    store_dir: Path, faulty_io: dict[str, Any]
) -> None:
    async def body() -> None:
        log = await opened(store_dir, writer_in_thread=True)
        await log.append(*entry_for("t-0"))
        faulty_io["fsync"] = errno.EIO
        with pytest.raises(Unavailable, match="nothing was stored"):
            await log.append(*entry_for("t-1"))
        faulty_io["fsync"] = None
        with pytest.raises(Unavailable, match="restart"):
            await log.append(*entry_for("t-2"))
        assert log.read("t-0")
        with pytest.raises(NotFound):
            log.read("t-1")
        await log.close()

    run(body)


def test_a_commit_waits_for_more_lines_only_under_concurrent_load() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        started = time.monotonic()
        # A lone caller: this batch is as big as the last one, so commit now.
        assert writer.more_is_coming(theirs, 1, 1, deadline=started + 5) is False
        assert time.monotonic() - started < 1
        # Smaller than the last batch, nothing arriving: wait until the deadline, then commit.
        started = time.monotonic()
        assert writer.more_is_coming(theirs, 1, 4, deadline=started + 0.2) is False
        assert time.monotonic() - started >= 0.19
        # Something arrives: hold the commit for it.
        ours.sendall(b"x")
        assert writer.more_is_coming(theirs, 1, 4, deadline=time.monotonic() + 5) is True


def test_a_writer_that_cannot_start_makes_open_fail_cleanly(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body() -> None:
        with monkeypatch.context() as patch:
            patch.setattr(sys, "executable", "/bin/false")  # the writer exits at once
            with pytest.raises(Unavailable, match="could not start its writer process"):
                await opened(store_dir)
        # Nothing stays locked or open: the next store opens the directory.
        log = await opened(store_dir, lock_wait_seconds=0)
        assert await log.append(*entry_for("t-0")) is True
        await log.close()

    run(body)


def test_a_trajectory_the_writer_fails_to_encode_fails_alone(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_encode_line = records.encode_line

    def encode_line(trajectory: Any, max_bytes: int) -> bytes:
        if trajectory.trajectory_id == "t-bad":
            raise RuntimeError("a bug in the encoder")
        return real_encode_line(trajectory, max_bytes)

    monkeypatch.setattr(records, "encode_line", encode_line)

    async def body() -> None:
        log = await opened(store_dir, writer_in_thread=True)
        results = await asyncio.gather(
            *(log.append(*entry_for(trajectory_id)) for trajectory_id in ("t-0", "t-bad", "t-1")),
            return_exceptions=True,
        )
        assert results[0] is True and results[2] is True
        assert isinstance(results[1], WriterBug) and "a bug in the encoder" in str(results[1])
        assert log.writer_restarts == 0 and await log.append(*entry_for("t-2")) is True
        await log.close()

    run(body)
    assert stored_ids(store_dir) == ["t-0", "t-1", "t-2"]
