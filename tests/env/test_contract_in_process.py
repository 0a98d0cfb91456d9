"""The EnvService contract (contract.py) against a server in this test process, on a free port.

Also the statuses only a configuration or a fault shows, over gRPC with a fake pool: the session
cap (RESOURCE_EXHAUSTED) and a session whose worker died (ABORTED).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from alfagent.env.v1 import env_pb2, env_pb2_grpc
from tests.env.contract import EnvContract, assert_status, channel_to, rpc_error
from tests.env.fakes import FakePool
from tests.env.inprocess import InProcessEnv


@pytest.fixture(scope="module")
def server() -> Iterator[InProcessEnv]:
    with InProcessEnv(workers=2) as env:
        yield env


@pytest.fixture
def channel(server: InProcessEnv) -> Iterator[grpc.Channel]:
    yield from channel_to(server.address)


class TestInProcessEnv(EnvContract):
    pass


def test_the_session_cap_is_resource_exhausted() -> None:
    with (
        InProcessEnv(fake_pool=FakePool(), max_sessions=1) as server,
        grpc.insecure_channel(server.address) as channel,
    ):
        env = env_pb2_grpc.EnvServiceStub(channel)
        first = env.Reset(env_pb2.ResetRequest(), timeout=30)
        error = rpc_error(env.Reset, env_pb2.ResetRequest())
        assert_status(error, grpc.StatusCode.RESOURCE_EXHAUSTED, "ENV_MAX_SESSIONS")
        env.Close(env_pb2.CloseRequest(session_id=first.session_id), timeout=30)
        env.Reset(env_pb2.ResetRequest(), timeout=30)


def test_a_session_whose_worker_died_is_aborted_naming_it() -> None:
    pool = FakePool(size=2)
    with InProcessEnv(fake_pool=pool) as server, grpc.insecure_channel(server.address) as channel:
        env = env_pb2_grpc.EnvServiceStub(channel)
        lost = env.Reset(env_pb2.ResetRequest(index=0), timeout=30)
        kept = env.Reset(env_pb2.ResetRequest(index=1), timeout=30)
        assert list(env.GetStats(env_pb2.GetStatsRequest(), timeout=30).worker_sessions) == [1, 1]
        assert server.core is not None
        server.core.worker_lost(0)  # what the pool reports when worker 0's process dies
        error = rpc_error(env.Step, env_pb2.StepRequest(session_id=lost.session_id, action="look"))
        assert_status(error, grpc.StatusCode.ABORTED, lost.session_id, "crashed")
        step = env.Step(env_pb2.StepRequest(session_id=kept.session_id, action="look"), timeout=30)
        assert step.step_index == 1
