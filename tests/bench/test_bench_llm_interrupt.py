"""Ctrl-C stops `bench_llm play` at once, even while the evaluation's stream waits for an event,
and the agent sees the call cancelled (so it stores the episodes in flight as CANCELLED, which a
resume plays again).

An agent that streams one progress event and then nothing for a minute stands in for a slow
model: a real gRPC server in this process, `run_evaluation` in a child process that gets SIGINT.
(A run started in the background from a non-interactive shell, `cmd &`, ignores SIGINT: stop
that one with SIGTERM.)
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from launcher.processes import REPO_ROOT
from tests.conftest import scrubbed_environ


class SilentAgent(agent_pb2_grpc.AgentServiceServicer):
    """One progress event, then silence until the caller goes away."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    def RunEvaluation(
        self, request: agent_pb2.RunEvaluationRequest, context: grpc.ServicerContext
    ) -> Iterator[agent_pb2.EvaluationEvent]:
        context.add_callback(self.cancelled.set)
        yield agent_pb2.EvaluationEvent(
            progress=agent_pb2.EvaluationProgress(completed=1, total=2, episode=agent_pb2.EpisodeResult())
        )
        deadline = time.monotonic() + 60
        while context.is_active() and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def silent_agent() -> Iterator[tuple[str, SilentAgent]]:
    server = grpc.server(ThreadPoolExecutor(4))
    agent = SilentAgent()  # type: ignore[abstract]  # implements only RunEvaluation, the one called
    agent_pb2_grpc.add_AgentServiceServicer_to_server(agent, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", agent
    finally:
        server.stop(grace=None)


# Ctrl-C in a terminal: a process started from a background job (as CI may run the suite) inherits
# SIGINT ignored, so the child restores Python's own handler first.
CHILD = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from alfagent.agent.v1 import agent_pb2
from bench.bench_llm import run_evaluation
run_evaluation(sys.argv[1], agent_pb2.RunEvaluationRequest(run_id="interrupted"))
"""


def test_ctrl_c_cancels_the_evaluation_while_no_event_comes(silent_agent: tuple[str, SilentAgent]) -> None:
    address, agent = silent_agent
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, address],
        cwd=REPO_ROOT,
        env=scrubbed_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            first = child.stdout.readline()  # the progress line: the stream is open and waiting
            assert "[1/2]" in first, first
            interrupted = time.monotonic()
            child.send_signal(signal.SIGINT)
            _, stderr = child.communicate(timeout=10)
            stopped_after = time.monotonic() - interrupted
        finally:
            child.kill()
    assert child.returncode != 0 and "KeyboardInterrupt" in stderr, stderr
    assert stopped_after < 5, f"took {stopped_after:.1f} s to stop"
    assert agent.cancelled.wait(5), "the agent saw the call cancelled"
