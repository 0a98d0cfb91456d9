"""Identity through running services: TLS on every port, tokens with roles, the agent calling env
and store as itself, the forged-trajectory attack failing, and the bind rule at start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import grpc
import pytest

from agent_service.runner import trajectory_id_for
from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent.trajectory.v1 import trajectory_pb2
from launcher.processes import REPO_ROOT, start_service
from launcher.stack import Stack, start_stack
from tests.common.test_identity import certificates
from tests.conftest import scrubbed_environ

pytestmark = pytest.mark.slow

AGENT, ALICE, EVE = ("a" * 24, "agent"), ("b" * 24, "alice"), ("e" * 24, "eve")
TOKENS = f"{AGENT[0]} agent run,read,write\n{ALICE[0]} alice run,read\n{EVE[0]} eve read\n"
VICTIM_RUN = "victim-run"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, bytes]]:
    root = tmp_path_factory.mktemp("secured")
    files = certificates(root)
    (root / "tokens").write_text(TOKENS)
    environ = scrubbed_environ(
        ALFAGENT_TLS_CERT=str(root / "server.pem"),
        ALFAGENT_TLS_KEY=str(root / "server.key"),
        ALFAGENT_TLS_CA=str(root / "ca.pem"),
        ALFAGENT_TOKENS=str(root / "tokens"),
        ALFAGENT_TOKEN=AGENT[0],
        ENV_WORKERS="1",
    )
    stack = start_stack(run_dir=root / "logs", store_dir=root / "store", environ=environ)
    try:
        yield stack, files["ca.pem"]
    finally:
        stack.stop()


def channel(address: str, ca: bytes) -> grpc.Channel:
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=ca))


def bearer(token: str) -> tuple[tuple[str, str | bytes], ...]:
    return (("authorization", f"Bearer {token}"),)


def code(call: Callable[[], object]) -> grpc.StatusCode | None:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return None


def test_every_port_speaks_tls_and_calls_need_a_token_with_the_methods_role(
    secured: tuple[Stack, bytes],
) -> None:
    stack, ca = secured
    for service in (stack.agent, stack.env, stack.store):
        with grpc.insecure_channel(service.address) as plain:
            stats = store_pb2_grpc.StoreServiceStub(plain).GetStats
            assert code(partial(stats, store_pb2.GetStatsRequest(), timeout=5)) is grpc.StatusCode.UNAVAILABLE
    with channel(stack.store.address, ca) as tls:
        store = store_pb2_grpc.StoreServiceStub(tls)
        assert (
            code(lambda: store.GetStats(store_pb2.GetStatsRequest(), timeout=10))
            is grpc.StatusCode.UNAUTHENTICATED
        )
        assert (
            code(lambda: store.GetStats(store_pb2.GetStatsRequest(), metadata=bearer(EVE[0]), timeout=10))
            is None
        )
        forged = store_pb2.AppendTrajectoryRequest(trajectory=trajectory_pb2.Trajectory(trajectory_id="t-x"))
        denied = code(lambda: store.AppendTrajectory(forged, metadata=bearer(ALICE[0]), timeout=10))
        assert denied is grpc.StatusCode.PERMISSION_DENIED


def test_an_episode_runs_with_the_agent_calling_env_and_store_as_itself(secured: tuple[Stack, bytes]) -> None:
    stack, ca = secured
    request = agent_pb2.RunEpisodeRequest(
        task_type="pick_and_place_simple", policy=trajectory_pb2.EXPERT, run_id="alice-run"
    )
    with channel(stack.agent.address, ca) as tls:
        agent = agent_pb2_grpc.AgentServiceStub(tls)
        assert (
            code(lambda: agent.RunEpisode(request, metadata=bearer(EVE[0]), timeout=60))
            is grpc.StatusCode.PERMISSION_DENIED
        )
        result = agent.RunEpisode(request, metadata=bearer(ALICE[0]), timeout=120)
    assert result.won
    with channel(stack.store.address, ca) as tls:
        stored = store_pb2_grpc.StoreServiceStub(tls).GetTrajectory(
            store_pb2.GetTrajectoryRequest(trajectory_id=result.trajectory_id),
            metadata=bearer(EVE[0]),
            timeout=10,
        )
    assert stored.won and stored.run_id == "alice-run"


def test_a_forged_win_under_someone_elses_run_is_refused_and_their_result_unchanged(
    secured: tuple[Stack, bytes],
) -> None:
    stack, ca = secured
    with channel(stack.agent.address, ca) as tls:
        agent = agent_pb2_grpc.AgentServiceStub(tls)
        games = agent.RunEvaluation(
            agent_pb2.RunEvaluationRequest(
                run_id="probe",
                limit=1,
                policy=trajectory_pb2.EXPERT,
                settings=trajectory_pb2.AgentSettings(max_steps=1),
            ),
            metadata=bearer(ALICE[0]),
            timeout=120,
        )
        game_id = next(event.progress.episode.game_id for event in games if event.HasField("progress"))
        # What the victim's evaluation will look for on resume: a WON trajectory under its id.
        forged = trajectory_pb2.Trajectory(
            trajectory_id=trajectory_id_for(VICTIM_RUN, game_id, 0),
            run_id=VICTIM_RUN,
            game=trajectory_pb2.Game(game_id=game_id, task_type=game_id.split("/")[1].split("-")[0]),
            won=True,
            end_reason=trajectory_pb2.WON,
        )
        append = store_pb2.AppendTrajectoryRequest(trajectory=forged)
        through_agent = store_pb2_grpc.StoreServiceStub(tls)
        assert (
            code(lambda: through_agent.AppendTrajectory(append, metadata=bearer(ALICE[0]), timeout=10))
            is grpc.StatusCode.PERMISSION_DENIED
        )
    with channel(stack.store.address, ca) as tls:
        store = store_pb2_grpc.StoreServiceStub(tls)
        for token in (ALICE[0], EVE[0]):
            appended = partial(store.AppendTrajectory, append, metadata=bearer(token), timeout=10)
            assert code(appended) is grpc.StatusCode.PERMISSION_DENIED
    # The victim plays the game with a policy that cannot win in one step: nothing forged is resumed.
    victim = agent_pb2.RunEvaluationRequest(
        run_id=VICTIM_RUN,
        limit=1,
        policy=trajectory_pb2.RANDOM,
        settings=trajectory_pb2.AgentSettings(max_steps=1),
    )
    with channel(stack.agent.address, ca) as tls:
        events = list(
            agent_pb2_grpc.AgentServiceStub(tls).RunEvaluation(victim, metadata=bearer(ALICE[0]), timeout=120)
        )
    summary = events[-1].summary
    assert (summary.overall.episodes, summary.overall.wins, summary.resumed) == (1, 0, 0)


def start_refused(**environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "store_service"],
        cwd=REPO_ROOT,
        env=scrubbed_environ(PORT="0", **environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_service_open_to_other_machines_without_identity_refuses_to_start(tmp_path: Path) -> None:
    result = start_refused(HOST="0.0.0.0", STORE_DIR=str(tmp_path / "store"))
    assert result.returncode == 2
    assert "store_service: HOST=0.0.0.0 is reachable from other machines" in result.stderr
    assert "ALFAGENT_INSECURE=1" in result.stderr


def test_open_on_purpose_it_starts_and_says_so_loudly_and_on_loopback_it_is_dev_mode(tmp_path: Path) -> None:
    for host, insecure, mode in (("0.0.0.0", "1", "insecure"), ("127.0.0.1", "", "dev")):
        environ = scrubbed_environ(HOST=host, ALFAGENT_INSECURE=insecure, STORE_DIR=str(tmp_path / mode))
        service = start_service("store_service", port=0, log_path=tmp_path / f"{mode}.log", environ=environ)
        try:
            service.wait_serving()
            lines = [
                json.loads(line) for line in service.log_path.read_text().splitlines() if line.startswith("{")
            ]
        finally:
            service.stop()
        assert [line["security"] for line in lines if line.get("msg") == "serving"] == [mode]
        warned = [
            line for line in lines if line.get("level") == "warning" and "INSECURE" in line.get("msg", "")
        ]
        assert bool(warned) is (mode == "insecure")


def test_the_cli_takes_the_token_and_the_ca_and_says_what_is_missing(
    secured: tuple[Stack, bytes], tmp_path: Path
) -> None:
    stack, ca = secured
    (tmp_path / "ca.pem").write_bytes(ca)
    command = [sys.executable, "-m", "agent_service", "episode", "--agent-addr", stack.agent.address]
    command += ["--policy", "EXPERT", "--task-type", "pick_and_place_simple", "--max-steps", "3"]

    def run(*extra: str, **environ: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *extra],
            cwd=REPO_ROOT,
            env=scrubbed_environ(**environ),
            capture_output=True,
            text=True,
            timeout=120,
        )

    no_ca = run("--token", ALICE[0])
    assert no_ca.returncode == 2 and "pass --ca CA.pem or set ALFAGENT_TLS_CA" in no_ca.stderr
    no_token = run("--ca", str(tmp_path / "ca.pem"))
    assert no_token.returncode == 2 and "UNAUTHENTICATED" in no_token.stderr and "--token" in no_token.stderr
    by_flags = run("--ca", str(tmp_path / "ca.pem"), "--token", ALICE[0])
    assert by_flags.returncode == 0, by_flags.stderr
    by_variables = run(ALFAGENT_TLS_CA=str(tmp_path / "ca.pem"), ALFAGENT_TOKEN=ALICE[0])
    assert by_variables.returncode == 0 and "won" in by_variables.stdout.lower(), by_variables.stderr


def test_the_rl_client_takes_the_token_and_the_ca(secured: tuple[Stack, bytes], tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO_ROOT / "clients" / "python"))  # as tests/scale/test_python_client.py
    from alfagent_client import AlfworldEnv, EnvError

    stack, ca = secured
    (tmp_path / "ca.pem").write_bytes(ca)
    with AlfworldEnv(
        stack.env.address, task_type="pick_and_place_simple", token=ALICE[0], ca=str(tmp_path / "ca.pem")
    ) as env:
        observation, info = env.reset()
        assert "Your task is to" in observation and info["admissible_commands"]
    with (
        pytest.raises(EnvError, match="token"),
        AlfworldEnv(stack.env.address, token="", ca=str(tmp_path / "ca.pem")) as env,
    ):
        env.reset()
