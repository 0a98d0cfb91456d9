"""store_service/metrics.py: appends counted by what they came to and timed by the servicer; the
store's size, trajectories and the log's counters read at a scrape (the log on a temp directory)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from alfagent.store.v1 import store_pb2
from alfagent_common import errors
from alfagent_common.grpc_errors import Context
from store_service.log import TrajectoryLog
from store_service.metrics import APPEND_RESULTS, StoreMetrics, disk_bytes
from store_service.servicer import StoreServicer
from store_service.skill_libraries import SkillLibraryLog
from tests.observability.scrape import read
from tests.store.store_harness import sample_trajectory

NO_CONTEXT: Context = None  # type: ignore[assignment]  # the servicer reads nothing from the call's context


def test_appends_by_result_their_latency_and_the_store_on_disk(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    metrics = StoreMetrics()
    # Every result is there from the start, at 0.
    appends = [
        sample for sample in read(metrics.registry).samples if sample.name == "alfagent_store_appends_total"
    ]
    assert {sample.labels["result"]: sample.value for sample in appends} == dict.fromkeys(APPEND_RESULTS, 0)

    async def body() -> None:
        log = TrajectoryLog(store_dir, segment_bytes=1 << 20, max_line_bytes=8192, writer_in_thread=True)
        libraries = SkillLibraryLog(store_dir, segment_bytes=1 << 20, max_line_bytes=1 << 20)
        recovered = await log.open()
        await libraries.open()
        metrics.recovery_seconds.set(recovered.seconds)
        metrics.watch(log)
        servicer = StoreServicer(log, libraries, metrics)
        try:
            for trajectory_id in ("t-1", "t-2", "t-1"):
                request = store_pb2.AppendTrajectoryRequest(trajectory=sample_trajectory(trajectory_id))
                await servicer.AppendTrajectory(request, NO_CONTEXT)
            too_big = sample_trajectory("t-3", steps=40, admissible=20)
            with pytest.raises(errors.InvalidRequest):
                await servicer.AppendTrajectory(
                    store_pb2.AppendTrajectoryRequest(trajectory=too_big), NO_CONTEXT
                )
            scraped = read(metrics.registry)
            assert scraped.value("alfagent_store_trajectories") == 2
            assert scraped.value("alfagent_store_fsyncs_total") == log.fsyncs >= 1
            assert scraped.value("alfagent_store_disk_bytes") == disk_bytes(store_dir) > 0
        finally:
            await log.close()
            await libraries.close()
        # Failed: the store cannot take appends now (closed).
        with pytest.raises(errors.Unavailable):
            await servicer.AppendTrajectory(
                store_pb2.AppendTrajectoryRequest(trajectory=sample_trajectory("t-4")), NO_CONTEXT
            )

    asyncio.run(body())
    scraped = read(metrics.registry)
    counts = {
        result: scraped.value("alfagent_store_appends_total", result=result) for result in APPEND_RESULTS
    }
    assert counts == {"stored": 2, "duplicate": 1, "refused": 1, "failed": 1}
    assert scraped.value("alfagent_store_append_seconds_count") == 5
    assert scraped.value("alfagent_store_writer_restarts_total") == 0
    assert scraped.family_types["alfagent_store_recovery_seconds"] == "gauge"


def test_disk_bytes_sums_the_files_of_the_store_directory(tmp_path: Path) -> None:
    assert disk_bytes(tmp_path / "absent") == 0
    (tmp_path / "trajectories-000001.jsonl").write_bytes(b"x" * 100)
    (tmp_path / "LOCK").write_bytes(b"")
    (tmp_path / "trajectories-000001.jsonl.20261124T221500123456Z.corrupt").write_bytes(b"y" * 7)
    (tmp_path / "a-folder").mkdir()
    assert disk_bytes(tmp_path) == 107
