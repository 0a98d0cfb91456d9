"""Services run on uvloop unless EVENT_LOOP=asyncio; a bad EVENT_LOOP is reported, not ignored."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from alfagent_clients.store import StoreClient
from alfagent_common import eventloop
from alfagent_common.settings import ConfigError
from tests.store.store_harness import REPO, StoreProcess, sample_trajectory


async def running_loop_name() -> str:
    return eventloop.loop_name(asyncio.get_running_loop())


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({}, "uvloop"), ({"EVENT_LOOP": "uvloop"}, "uvloop"), ({"EVENT_LOOP": " Asyncio "}, "asyncio")],
)
def test_run_uses_the_loop_event_loop_names(environ: dict[str, str], expected: str) -> None:
    assert eventloop.run(running_loop_name(), environ) == expected


def test_an_unknown_loop_is_a_config_error_and_the_coroutine_is_closed() -> None:
    main = running_loop_name()
    with pytest.raises(ConfigError, match="EVENT_LOOP='trio' is not one of uvloop, asyncio"):
        eventloop.run(main, {"EVENT_LOOP": "trio"})
    assert inspect.getcoroutinestate(main) == inspect.CORO_CLOSED


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_the_store_process_serves_on_the_loop_chosen(tmp_path: Path, loop: str) -> None:
    trajectory = sample_trajectory("on-" + loop, steps=3)

    async def append_and_get(address: str) -> tuple[bool, str]:
        async with grpc.aio.insecure_channel(address) as channel:
            store = StoreClient(channel)
            _, created = await store.append(trajectory)
            return created, (await store.get(trajectory.trajectory_id)).trajectory_id

    with StoreProcess(tmp_path / "store", {"EVENT_LOOP": loop}) as store:
        assert store.logged("serving")[0]["event_loop"] == loop
        assert asyncio.run(append_and_get(store.address)) == (True, trajectory.trajectory_id)
        assert store.terminate() == 0


def test_the_store_refuses_to_start_on_an_unknown_loop(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "store_service"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PORT": "0", "STORE_DIR": str(tmp_path / "s"), "EVENT_LOOP": "gevent"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "EVENT_LOOP='gevent' is not one of uvloop, asyncio" in result.stderr
