"""Contract tests over gRPC, run against the in-process servicer and the real `python -m store_service`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from alfagent_clients.store import StoreClient
from alfagent_common.errors import InvalidRequest, NotFound
from tests.store.store_harness import REPO, InProcessStore, StoreProcess, sample_trajectory

T = TypeVar("T")
MAX_TRAJECTORY_BYTES = 64 * 1024
SEGMENT_BYTES = 64 * 1024


@pytest.fixture(scope="module", params=["in-process", "process"])
def address(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store_dir = tmp_path_factory.mktemp("store") / "store"
    if request.param == "in-process":
        with InProcessStore(
            store_dir, segment_bytes=SEGMENT_BYTES, max_trajectory_bytes=MAX_TRAJECTORY_BYTES
        ) as store:
            yield store.address
    else:
        env = {
            "STORE_SEGMENT_BYTES": str(SEGMENT_BYTES),
            "STORE_MAX_TRAJECTORY_BYTES": str(MAX_TRAJECTORY_BYTES),
        }
        with StoreProcess(store_dir, env) as process:
            yield process.address


def call(address: str, body: Callable[[StoreClient], Awaitable[T]]) -> T:
    async def run() -> T:
        async with grpc.aio.insecure_channel(address) as channel:
            return await body(StoreClient(channel))

    return asyncio.run(run())


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_append_get_and_duplicate(address: str) -> None:
    trajectory = sample_trajectory(unique("t"), steps=4)

    async def body(store: StoreClient) -> None:
        assert await store.append(trajectory) == (trajectory.trajectory_id, True)
        assert await store.get(trajectory.trajectory_id) == trajectory
        changed = sample_trajectory(trajectory.trajectory_id, won=False)
        assert await store.append(changed) == (trajectory.trajectory_id, False)
        assert await store.get(trajectory.trajectory_id) == trajectory

    call(address, body)


def test_the_same_id_from_16_clients_at_once_is_stored_once(address: str) -> None:
    run_id = unique("run")
    trajectory = sample_trajectory(unique("t"), run_id=run_id)

    async def body() -> list[bool]:
        channels = [grpc.aio.insecure_channel(address) for _ in range(16)]
        try:
            results = await asyncio.gather(*(StoreClient(channel).append(trajectory) for channel in channels))
            page, _ = await StoreClient(channels[0]).list(run_id=run_id)
            assert [stored.trajectory_id for stored in page] == [trajectory.trajectory_id]
            return [created for _, created in results]
        finally:
            for channel in channels:
                await channel.close(None)

    assert sorted(asyncio.run(body())) == [False] * 15 + [True]


def test_get_unknown_and_malformed_ids(address: str) -> None:
    async def body(store: StoreClient) -> None:
        with pytest.raises(NotFound, match=r"NOT_FOUND.*no-such-id"):
            await store.get("no-such-id")
        with pytest.raises(InvalidRequest, match="INVALID_ARGUMENT: trajectory_id is required"):
            await store.get("")
        with pytest.raises(InvalidRequest, match="contains '/'"):
            await store.get("../../etc/passwd")

    call(address, body)


@pytest.mark.parametrize(
    ("trajectory_id", "message"),
    [
        ("", "trajectory.trajectory_id is required"),
        ("a/b", "contains '/'"),
        ("a\tb", "contains '\\\\t'"),
        ("x" * 201, "at most 200"),
    ],
)
def test_append_bad_ids(address: str, trajectory_id: str, message: str) -> None:
    async def body(store: StoreClient) -> None:
        with pytest.raises(InvalidRequest, match=message):
            await store.append(sample_trajectory(trajectory_id))

    call(address, body)


def test_append_without_a_trajectory(address: str) -> None:
    async def body() -> None:
        async with grpc.aio.insecure_channel(address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await store_pb2_grpc.StoreServiceStub(channel).AppendTrajectory(
                    store_pb2.AppendTrajectoryRequest()
                )
            assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    asyncio.run(body())


def test_append_over_the_size_limit(address: str) -> None:
    big = sample_trajectory(unique("big"), steps=2, observation="x" * MAX_TRAJECTORY_BYTES)

    async def body(store: StoreClient) -> None:
        with pytest.raises(InvalidRequest, match=f"the limit is {MAX_TRAJECTORY_BYTES}"):
            await store.append(big)
        with pytest.raises(NotFound):
            await store.get(big.trajectory_id)

    call(address, body)


def test_list_filters_and_pages(address: str) -> None:
    run_id = unique("run")
    trajectories = [
        sample_trajectory(f"{run_id}:{n}", run_id=run_id, task_type=("pick", "heat")[n % 2], won=n % 3 == 0)
        for n in range(23)
    ]

    async def body(store: StoreClient) -> None:
        for trajectory in trajectories:
            await store.append(trajectory)
        await store.append(sample_trajectory(unique("other"), run_id=unique("run")))

        pages, token = [], ""
        while True:
            page, token = await store.list(run_id=run_id, page_size=5, page_token=token)
            pages.append(page)
            if not token:
                break
        assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
        assert [t for page in pages for t in page] == trajectories

        def ids(selected: list[trajectory_pb2.Trajectory]) -> list[str]:
            return [t.trajectory_id for t in selected]

        won = [t for t in trajectories if t.won]
        assert ids((await store.list(run_id=run_id, won=True))[0]) == ids(won)
        lost_heat = [t for t in trajectories if not t.won and t.game.task_type == "heat"]
        assert ids((await store.list(run_id=run_id, task_type="heat", won=False))[0]) == ids(lost_heat)
        assert ids([t async for t in store.iter_all(run_id=run_id, page_size=4)]) == ids(trajectories)
        assert await store.list(run_id=unique("empty")) == ([], "")

    call(address, body)


def test_bad_list_requests(address: str) -> None:
    run_id = unique("run")

    async def body(store: StoreClient) -> None:
        for n in range(3):
            await store.append(sample_trajectory(f"{run_id}:{n}", run_id=run_id))
        _, token = await store.list(run_id=run_id, page_size=1)
        assert token
        with pytest.raises(InvalidRequest, match="page_token"):
            await store.list(run_id=run_id, page_token="not-a-token")
        with pytest.raises(InvalidRequest, match="not issued for these filters"):
            await store.list(run_id=run_id, won=True, page_token=token)
        with pytest.raises(InvalidRequest, match="page_size"):
            await store.list(run_id=run_id, page_size=-5)
        with pytest.raises(InvalidRequest, match="run_id"):
            await store.list(run_id="a/b")
        with pytest.raises(InvalidRequest, match="task_type"):
            await store.list(task_type="pick\n")

    call(address, body)


def test_stats(address: str) -> None:
    run_id = unique("run")
    outcomes = {"pick": [True, True, False, False], "heat": [True]}

    async def body(store: StoreClient) -> store_pb2.StoreStats:
        n = 0
        for task_type, results in outcomes.items():
            for won in results:
                await store.append(
                    sample_trajectory(
                        f"{run_id}:{n}", run_id=run_id, task_type=task_type, won=won, steps=n + 1
                    )
                )
                n += 1
        return await store.stats(run_id)

    stats = call(address, body)
    assert stats.run_id == run_id and stats.trajectories == 5
    heat, pick = stats.by_task_type
    assert (pick.task_type, pick.episodes, pick.wins, pick.success_rate) == ("pick", 4, 2, 0.5)
    assert pick.mean_steps == 2.5 and pick.prompt_tokens == 1000 * (1 + 2 + 3 + 4)
    assert 0.15 < pick.success_ci_low < 0.5 < pick.success_ci_high < 0.85
    assert (heat.task_type, heat.episodes, heat.wins, heat.mean_steps) == ("heat", 1, 1, 5)
    assert (stats.overall.task_type, stats.overall.episodes, stats.overall.wins) == ("all", 5, 3)
    assert stats.overall.success_rate == 0.6
    empty = call(address, lambda store: store.stats(unique("nobody")))
    assert empty.trajectories == 0 and not empty.by_task_type
    everything = call(address, lambda store: store.stats())
    assert everything.trajectories >= 5


def test_segments_rotate_through_the_service(address: str) -> None:
    run_id = unique("run")
    trajectories = [sample_trajectory(f"{run_id}:{n}", run_id=run_id, steps=10) for n in range(20)]

    async def body(store: StoreClient) -> None:
        await asyncio.gather(*(store.append(trajectory) for trajectory in trajectories))
        for trajectory in trajectories:
            assert await store.get(trajectory.trajectory_id) == trajectory

    call(address, body)


# --- the real process only -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with StoreProcess(tmp_path_factory.mktemp("store") / "store") as store:
        yield store


def test_health_is_serving_and_reflection_lists_the_service(process: StoreProcess) -> None:
    async def body() -> int:
        async with grpc.aio.insecure_channel(process.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            answer = await health.Check(
                health_pb2.HealthCheckRequest(service="alfagent.store.v1.StoreService")
            )
            return int(answer.status)

    assert asyncio.run(body()) == health_pb2.HealthCheckResponse.SERVING
    listed = subprocess.run(
        [str(REPO / ".venv/bin/grpcurl"), "-plaintext", process.address, "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "alfagent.store.v1.StoreService" in listed.stdout.split()
    recovered = process.logged("store recovered")
    assert recovered and recovered[0]["records"] == 0


def test_sigterm_stops_cleanly_and_data_survives(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    trajectory = sample_trajectory("survivor")
    with StoreProcess(store_dir) as first:
        call(first.address, lambda store: store.append(trajectory))
        assert first.terminate() == 0
        assert first.logged("store closed")
    with StoreProcess(store_dir) as second:
        assert call(second.address, lambda store: store.get("survivor")) == trajectory
        assert second.logged("store recovered")[0]["records"] == 1
    lines = (store_dir / "trajectories-000001.jsonl").read_text().splitlines()
    assert [json.loads(line)["trajectory_id"] for line in lines] == ["survivor"]


def test_a_second_store_on_the_same_directory_exits_without_serving(process: StoreProcess) -> None:
    result = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-m", "store_service"],
        cwd=REPO,
        env={"STORE_DIR": str(process.store_dir), "PORT": "0", "HOST": "127.0.0.1"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    entry = json.loads(line)
    assert entry["msg"] == "store could not start" and "in use by another store" in entry["error"]


def test_bad_configuration_exits_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-m", "store_service"],
        cwd=REPO,
        env={"STORE_SEGMENT_BYTES": "ten", "STORE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "STORE_SEGMENT_BYTES='ten' is not a whole number" in result.stderr
