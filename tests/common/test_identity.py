"""Identity: the token file, roles by method, the bind rule, and the interceptor on a real server
(tokens and TLS, with certificates made by openssl for the test)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # grpc-stubs 1.53 lacks it

from alfagent.store.v1 import store_pb2, store_pb2_grpc
from alfagent_common import auth
from alfagent_common.identity import Caller, Role, TokenTable, bearer_token, is_loopback, role_for
from alfagent_common.security import Security
from alfagent_common.settings import ConfigError

T = TypeVar("T")
READER, WRITER = "r" * 20 + "-reader", "w" * 20 + "-writer"
TOKENS = f"""
# caller tokens
{READER} alice read,run
{WRITER} agent write   # the agent's own
"""


def test_the_token_file_names_callers_and_their_roles() -> None:
    table = TokenTable.parse(TOKENS)
    assert table.caller(READER) == Caller("alice", frozenset({Role.READ, Role.RUN}))
    assert table.caller(WRITER) == Caller("agent", frozenset({Role.WRITE}))
    assert table.caller("x" * 20) is None and len(table) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tok", "line 1: expected TOKEN CALLER ROLES, found 1 fields"),
        (f"\n{READER} bob read,fly", "line 2: roles 'read,fly' are not among read, run, write, admin"),
        ("short bob read", "line 1: the token of bob is shorter than 16 characters"),
        (f"{READER} a read\n{READER} b read", "two callers share one token"),
    ],
)
def test_a_bad_token_file_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TokenTable.parse(text)


def test_each_method_needs_its_role_and_an_unknown_one_needs_admin() -> None:
    assert role_for("/alfagent.store.v1.StoreService/AppendTrajectory") is Role.WRITE
    assert role_for("/alfagent.store.v1.StoreService/GetTrajectory") is Role.READ
    assert role_for("/alfagent.agent.v1.AgentService/RunEvaluation") is Role.RUN
    assert role_for("/grpc.health.v1.Health/Check") is None
    assert role_for("/alfagent.store.v1.StoreService/DeleteEverything") is Role.ADMIN
    assert Caller("root", frozenset({Role.ADMIN})).may(Role.WRITE)
    assert bearer_token("Bearer  abc ") == "abc" and bearer_token("Basic abc") == ""


def test_a_service_reachable_from_elsewhere_needs_tls_and_tokens_or_says_it_is_open(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "localhost", "[::1]", "::1"):
        assert is_loopback(host) and Security().check_bind(host) == "dev"
    for host in ("[::]", "0.0.0.0", "10.0.0.5", "agent"):
        assert not is_loopback(host)
        with pytest.raises(
            ConfigError,
            match=rf"HOST={re.escape(host)} is reachable from other machines.*ALFAGENT_INSECURE=1",
        ):
            Security().check_bind(host)
    assert Security(insecure=True).check_bind("[::]") == "insecure"
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKENS)
    with pytest.raises(ConfigError, match="no TLS"):
        Security.from_environ({"ALFAGENT_TOKENS": str(tokens)}).check_bind("[::]")
    with pytest.raises(ConfigError, match="go together"):
        Security.from_environ({"ALFAGENT_TLS_CERT": str(tokens)})
    with pytest.raises(ConfigError, match="ALFAGENT_TOKENS=/nowhere"):
        Security.from_environ({"ALFAGENT_TOKENS": "/nowhere"})
    (tmp_path / "token").write_text(READER + "\n")
    assert Security.from_environ({"ALFAGENT_TOKEN": f"@{tmp_path / 'token'}"}).token == READER
    assert READER not in repr(Security.from_environ({"ALFAGENT_TOKEN": READER}))


class Store(store_pb2_grpc.StoreServiceServicer):
    """Answers GetStats with the caller's name (as run_id) and accepts appends."""

    async def GetStats(self, request: store_pb2.GetStatsRequest, context: Any) -> store_pb2.StoreStats:
        return store_pb2.StoreStats(run_id=auth.current_caller.get().name)

    async def AppendTrajectory(
        self, request: store_pb2.AppendTrajectoryRequest, context: Any
    ) -> store_pb2.AppendTrajectoryResponse:
        return store_pb2.AppendTrajectoryResponse(trajectory_id="t", created=True)


async def serving(security: Security, body: Callable[[str], Awaitable[T]], address: str = "127.0.0.1") -> T:
    server = grpc.aio.server(interceptors=[auth.AuthInterceptor(security)])
    store_pb2_grpc.add_StoreServiceServicer_to_server(Store(), server)  # type: ignore[abstract]  # two methods suffice
    health_pb2_grpc.add_HealthServicer_to_server(health_aio.HealthServicer(), server)
    credentials = auth.server_credentials(security)
    target = f"{address}:0"
    port = server.add_secure_port(target, credentials) if credentials else server.add_insecure_port(target)
    await server.start()
    try:
        return await body(f"{address}:{port}")
    finally:
        await server.stop(None)


def code_of(call: Callable[[], Awaitable[object]]) -> grpc.StatusCode | None:
    async def run() -> grpc.StatusCode | None:
        try:
            await call()
        except grpc.aio.AioRpcError as error:
            return error.code()
        return None

    return asyncio.get_event_loop().run_until_complete(run())


def test_calls_need_a_token_with_the_methods_role(tmp_path: Path) -> None:
    security = Security(tokens=TokenTable.parse(TOKENS))

    async def body(address: str) -> None:
        async def as_caller(token: str) -> tuple[grpc.StatusCode | None, grpc.StatusCode | None, str]:
            async with auth.channel(address, Security(token=token)) as channel:
                store = store_pb2_grpc.StoreServiceStub(channel)
                codes: list[grpc.StatusCode | None] = []
                for call in (
                    store.GetStats(store_pb2.GetStatsRequest()),
                    store.AppendTrajectory(store_pb2.AppendTrajectoryRequest()),
                ):
                    try:
                        await call
                        codes.append(None)
                    except grpc.aio.AioRpcError as error:
                        codes.append(error.code())
                        if error.code() is grpc.StatusCode.PERMISSION_DENIED:
                            assert re.match(
                                r"caller \w+ \(roles [a-z,]+\) may not call", str(error.details())
                            )
                name = (await store.GetStats(store_pb2.GetStatsRequest())).run_id if codes[0] is None else ""
                return codes[0], codes[1], name

        assert await as_caller("") == (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAUTHENTICATED, "")
        assert await as_caller("n" * 20) == (
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.UNAUTHENTICATED,
            "",
        )
        assert await as_caller(READER) == (None, grpc.StatusCode.PERMISSION_DENIED, "alice")
        writer = await as_caller(WRITER)
        assert writer[0] is grpc.StatusCode.PERMISSION_DENIED and writer[1] is None
        # Health checks need no token (orchestrators and probes hold none).
        async with grpc.aio.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert (
                await health.Check(health_pb2.HealthCheckRequest())
            ).status == health_pb2.HealthCheckResponse.SERVING

    asyncio.run(serving(security, body))


def _openssl(*arguments: str, cwd: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True)


def certificates(folder: Path) -> dict[str, bytes]:
    """A throw-away CA, a server certificate for localhost and 127.0.0.1, and a client one."""
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        cwd=folder,
    )
    for name, extension in (
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=folder,
        )
        (folder / f"{name}.ext").write_text(extension + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
            cwd=folder,
        )
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.suffix in (".pem", ".key")}


def test_tls_with_client_certificates_admits_only_clients_the_ca_signed(tmp_path: Path) -> None:
    files = certificates(tmp_path)
    server = Security(
        tls_cert=files["server.pem"], tls_key=files["server.key"], tls_ca=files["ca.pem"], client_auth=True
    )

    async def body(address: str) -> None:
        client = Security(tls_ca=files["ca.pem"], tls_cert=files["client.pem"], tls_key=files["client.key"])
        async with auth.channel(address, client) as channel:
            stats = await store_pb2_grpc.StoreServiceStub(channel).GetStats(
                store_pb2.GetStatsRequest(), timeout=10
            )
            assert stats.run_id == "dev"  # no tokens configured: every caller is the dev caller
        for stranger in (Security(tls_ca=files["ca.pem"]), Security()):
            async with auth.channel(address, stranger) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await store_pb2_grpc.StoreServiceStub(channel).GetStats(
                        store_pb2.GetStatsRequest(), timeout=10
                    )
                assert refused.value.code() is grpc.StatusCode.UNAVAILABLE

    asyncio.run(serving(server, body, address="localhost"))
