"""The egress policy (agent_service/llm/egress.py): what a request's `base_url` may make the agent
call, checked before any connection. Real HTTP servers on 127.x record every connection they get;
names resolve through a resolver the test gives the policy, so no DNS is involved.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator

import grpc
import httpx2
import pytest

from agent_service.config import AgentConfig
from agent_service.episode import EpisodeRequest, PolicyKind
from agent_service.llm.client import CallFailed, ChatClient, ClientPool, Message, Timeouts
from agent_service.llm.egress import (
    CheckedEndpoint,
    EgressPolicy,
    EgressRefused,
    IPAddress,
    is_public_address,
    system_resolver,
    trusted_endpoint,
)
from agent_service.llm.endpoints import EndpointRules
from agent_service.llm.served_model import describe_endpoint, served_model_resolver
from agent_service.llm.transport import RefusedByPolicy, http_client
from agent_service.settings import EpisodeSettings
from alfagent_common import errors
from alfagent_common.grpc_errors import status_for
from alfagent_common.settings import ConfigError
from tests.agent.hostile_http import HostileServer

CONFIGURED = "http://llm.internal:8080/v1"
FAST = Timeouts(read_seconds=2.0, connect_seconds=1.0)


class Names:
    """A resolver from a table: host → addresses, or a list of answers given in turn (the last
    one repeats). Records each host asked; an unknown host does not resolve."""

    def __init__(self, table: dict[str, list[str] | list[list[str]]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        answer = self.table.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answer and isinstance(answer[0], list):
            turns = [list(a) for a in answer if isinstance(a, list)]
            return turns[min(self.asked.count(host), len(turns)) - 1]
        return [a for a in answer if isinstance(a, str)]


def policy(*allowed: str, names: Names | None = None, **options: object) -> EgressPolicy:
    return EgressPolicy(CONFIGURED, allowed, resolver=names or Names({}), **options)  # type: ignore[arg-type]  # test seams by name


def check(egress: EgressPolicy, url: str) -> CheckedEndpoint:
    return asyncio.run(egress.check(url))


def llm_request(base_url: str, model: str = "m") -> EpisodeRequest:
    return EpisodeRequest(PolicyKind.LLM, settings=EpisodeSettings(base_url=base_url, model=model))


@pytest.fixture
def bystander() -> Iterator[HostileServer]:
    """A server on 127.0.0.1 that nothing may reach: it counts connections."""
    with HostileServer("ok") as server:
        yield server


# -- schemes, user info, what is allowed ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://files.example/v1",
        "gopher://x:70/",
        "FILE:///etc/passwd",
        "http:///v1",
        "http://host:notaport/v1",
        "//llm.internal:8080/v1",
        "http://ⓔxample.com/v1",
        "http://a b/v1",
    ],
)
def test_only_http_urls_with_a_host_and_port_are_taken(url: str) -> None:
    names = Names({})
    for egress in (policy(names=names), policy("*", names=names)):
        with pytest.raises(errors.InvalidRequest):
            check(egress, url)
    assert names.asked == [], "refused before resolving anything"


def test_without_an_allowlist_only_the_configured_endpoint_is_called(bystander: HostileServer) -> None:
    egress = policy()
    assert check(egress, CONFIGURED).trusted
    assert check(egress, CONFIGURED + "/").rule == "OPENAI_BASE_URL"
    with pytest.raises(errors.PermissionDenied) as refused:
        check(egress, f"{bystander.url}/v1")
    message = str(refused.value)
    assert "egress policy" in message and "ALFAGENT_ALLOWED_BASE_URLS" in message
    assert "llm.internal:8080" in message, "says what the agent does call"
    # Through the edge too, and through the policy's own check past the edge.
    with pytest.raises(errors.PermissionDenied):
        asyncio.run(served_model_resolver(egress)(llm_request(f"{bystander.url}/v1")))
    with pytest.raises(errors.PermissionDenied):
        EndpointRules(CONFIGURED, "sk-k").check(f"{bystander.url}/v1")
    assert bystander.connections == 0


def test_a_refusal_is_permission_denied_over_grpc() -> None:
    with pytest.raises(EgressRefused) as refused:
        check(policy(), "http://attacker.example/v1")
    assert status_for(refused.value) is grpc.StatusCode.PERMISSION_DENIED


def test_the_allowlist_admits_its_endpoints_and_paths_below_them_trusted() -> None:
    egress = policy("http://vllm:8000/v1", "http://10.0.0.5:8000/")
    for url in ("http://vllm:8000/v1", "http://VLLM:8000/v1/", "http://10.0.0.5:8000/v1"):
        checked = check(egress, url)
        assert checked.trusted and checked.rule == "ALFAGENT_ALLOWED_BASE_URLS" and checked.guard is None
    for url in ("http://vllm:8001/v1", "https://vllm:8000/v1", "http://vllm.evil.example:8000/v1"):
        with pytest.raises(errors.PermissionDenied, match=r"vllm:8000/v1.*add it there"):
            check(egress, url)
    with pytest.raises(errors.InvalidRequest, match="port"):
        check(egress, "http://vllm:8000.evil.example/v1")


def test_a_url_with_a_user_or_password_is_refused_unless_it_is_the_configured_one() -> None:
    egress = policy("http://vllm:8000/v1", "*")
    with pytest.raises(errors.InvalidRequest, match="user or password"):
        check(egress, "http://user:pw@vllm:8000/v1")
    with pytest.raises(errors.InvalidRequest, match="user or password"):
        check(egress, "http://vllm:8000@attacker.example/v1")
    configured = "http://agent:secret@llm.internal:8080/v1"
    assert EgressPolicy(configured).endpoint(configured).trusted


def test_the_configuration_is_checked_at_start() -> None:
    config = AgentConfig.from_environ(
        {"ALFAGENT_ALLOWED_BASE_URLS": "http://vllm:8000/v1, *", "ALFAGENT_LLM_CLIENTS": "4"}
    )
    assert config.allowed_base_urls == ("http://vllm:8000/v1", "*")
    assert (config.llm_clients, AgentConfig.from_environ({}).llm_clients) == (4, 16)
    with pytest.raises(ConfigError, match=r"ALFAGENT_ALLOWED_BASE_URLS.*\*"):
        AgentConfig.from_environ({"ALFAGENT_ALLOWED_BASE_URLS": "file:///etc"})
    with pytest.raises(ConfigError, match="ALFAGENT_LLM_CLIENTS"):
        AgentConfig.from_environ({"ALFAGENT_LLM_CLIENTS": "0"})
    with pytest.raises(ConfigError, match="http://"):
        EgressPolicy("ftp://llm/v1")


# -- "*": any public endpoint, addresses checked -----------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("::ffff:93.184.216.34", True),
        ("10.0.0.5", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("198.18.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::127.0.0.1", False),
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a00:5::1", False),  # 6to4 of 10.0.0.5
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::1", False),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),  # Teredo of 10.0.0.1
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "addresses",
    [
        ["169.254.169.254"],
        ["10.0.0.5"],
        ["127.0.0.1"],
        ["::ffff:127.0.0.1"],
        ["93.184.216.34", "10.0.0.5"],  # one private address among public ones is enough
        [],
    ],
)
def test_a_public_endpoint_whose_name_resolves_to_a_private_address_is_refused(addresses: list[str]) -> None:
    names = Names({"llm.example": addresses})
    with pytest.raises(errors.PermissionDenied, match="does not resolve to public addresses only") as refused:
        check(policy("*", names=names), "http://llm.example:8000/v1")
    assert names.asked == ["llm.example"]
    for address in addresses:  # the network behind the agent is not described to the caller
        assert address not in str(refused.value)


def test_a_name_that_does_not_resolve_is_refused_like_a_private_one() -> None:
    with pytest.raises(errors.PermissionDenied, match="does not resolve to public addresses only"):
        check(policy("*"), "http://nowhere.example/v1")


def test_a_public_endpoint_is_admitted_untrusted_and_its_addresses_checked_again_later() -> None:
    names = Names({"api.example": ["93.184.216.34", "2606:4700::1111"]})
    checked = check(policy("*", names=names), "https://api.example/v1")
    assert (checked.trusted, checked.rule, checked.port) == (False, "ALFAGENT_ALLOWED_BASE_URLS=*", 443)
    assert checked.guard is not None
    # The allow-list still wins: a named endpoint is trusted, whatever its address.
    assert check(policy("*", "http://10.0.0.5:8000/v1"), "http://10.0.0.5:8000/v1").trusted


@pytest.mark.parametrize(
    "host",
    ["169.254.169.254", "[::ffff:a9fe:a9fe]", "[::1]", "[::1%25lo]", "0.0.0.0", "[fe80::1]", "10.0.0.5"],
)
def test_address_literals_are_checked_without_resolving(host: str) -> None:
    names = Names({})
    with pytest.raises(errors.PermissionDenied):
        check(policy("*", names=names), f"http://{host}/latest/meta-data/")
    assert names.asked == []


def test_numeric_spellings_of_loopback_are_refused_with_the_system_resolver(bystander: HostileServer) -> None:
    egress = EgressPolicy(CONFIGURED, ("*",), resolver=system_resolver)
    for host in ("2130706433", "0x7f000001", "127.1", "localhost"):
        with pytest.raises(errors.PermissionDenied):
            check(egress, f"http://{host}:{bystander.bound_port}/v1")
    assert bystander.connections == 0


def test_the_edge_refuses_before_asking_the_endpoint_anything(bystander: HostileServer) -> None:
    names = Names({"metadata.example": ["169.254.169.254"], "intranet.example": ["10.0.0.5"]})
    names.table["sneaky.example"] = ["127.0.0.1"]
    resolve = served_model_resolver(policy("*", names=names))
    port = bystander.bound_port
    for url in (
        "file:///etc/passwd",
        "ftp://127.0.0.1/v1",
        "http://metadata.example/latest/meta-data/",
        "http://intranet.example:8000/v1",
        f"http://sneaky.example:{port}/v1",
        f"http://127.0.0.1:{port}/v1",
    ):
        with pytest.raises((errors.PermissionDenied, errors.InvalidRequest)):
            asyncio.run(resolve(llm_request(url)))
    assert bystander.connections == 0
    # Not an LLM episode: nothing to check, nothing called.
    expert = EpisodeRequest(PolicyKind.EXPERT, settings=EpisodeSettings(base_url="file:///etc/passwd"))
    assert asyncio.run(resolve(expert)) is expert


# -- no redirects ---------------------------------------------------------------------------


def test_no_redirect_is_followed(bystander: HostileServer) -> None:
    with HostileServer("redirect", location=f"{bystander.url}/props") as redirecting:
        base_url = f"{redirecting.url}/v1"
        egress = EgressPolicy(base_url)
        # /props: a redirect says nothing about the model.
        resolved = asyncio.run(served_model_resolver(egress)(llm_request(base_url)))
        assert resolved.settings.model == "m"
        assert asyncio.run(describe_endpoint(egress.endpoint(base_url))) is None

        # A completion: the 302 is the answer, not retried.
        async def complete() -> CallFailed:
            client = ChatClient(egress.endpoint(base_url), "", timeouts=FAST)
            try:
                await client.complete("m", [Message("user", "hi")], temperature=0)
            except CallFailed as failed:
                return failed
            finally:
                await client.close()
            raise AssertionError("a redirect is not a completion")

        failed = asyncio.run(complete())
        assert (failed.cause, failed.retryable) == ("302", False)
        assert len(redirecting.requests) >= 2
    assert bystander.connections == 0


# -- DNS rebinding ----------------------------------------------------------------------------


@pytest.fixture
def twin_servers() -> Iterator[tuple[HostileServer, HostileServer]]:
    """A server on 127.0.0.2 (standing in for a public address) and one on 127.0.0.1, on the
    same port, so that a name's two answers differ only in the address."""
    with HostileServer("ok", host="127.0.0.2") as public:
        try:
            with HostileServer("ok", host="127.0.0.1", port=public.bound_port) as private:
                yield public, private
        except OSError:
            pytest.skip("the port is taken on 127.0.0.1")


def only_127_0_0_2(address: IPAddress) -> bool:
    return address == ipaddress.ip_address("127.0.0.2")


def complete(endpoint: CheckedEndpoint) -> str | CallFailed:
    async def main() -> str | CallFailed:
        client = ChatClient(endpoint, "", timeouts=FAST)
        try:
            return (await client.complete("m", [Message("user", "hi")], temperature=0)).text
        except CallFailed as failed:
            return failed
        finally:
            await client.close()

    return asyncio.run(main())


def test_a_public_endpoint_is_connected_to_at_the_address_checked(
    twin_servers: tuple[HostileServer, HostileServer],
) -> None:
    public, private = twin_servers
    names = Names({"api.example": ["127.0.0.2"]})
    egress = policy("*", names=names, address_allowed=only_127_0_0_2)
    endpoint = check(egress, f"http://api.example:{public.bound_port}/v1")
    assert complete(endpoint) == "look"
    # /props then the completion, each resolved and checked again, at the address checked, with
    # the name in Host.
    assert names.asked == ["api.example"] * 3
    assert [r.headers["host"] for r in public.requests] == [f"api.example:{public.bound_port}"] * 2
    assert private.connections == 0


def test_a_name_rebound_to_a_private_address_after_the_check_is_refused_at_connect(
    twin_servers: tuple[HostileServer, HostileServer],
) -> None:
    public, private = twin_servers
    names = Names({"rebind.example": [["127.0.0.2"], ["127.0.0.1"]]})
    egress = policy("*", names=names, address_allowed=only_127_0_0_2)
    endpoint = check(egress, f"http://rebind.example:{public.bound_port}/v1")
    failed = complete(endpoint)
    assert isinstance(failed, CallFailed)
    assert (failed.cause, failed.retryable) == ("egress", False)
    assert "refused by the egress policy" in str(failed) and "127.0.0.1" not in str(failed)
    assert public.connections == 0 and private.connections == 0
    # The /props fetch at the edge, likewise.
    names.asked.clear()
    with pytest.raises(errors.PermissionDenied, match="egress policy"):
        asyncio.run(served_model_resolver(egress)(llm_request(endpoint.base_url)))
    assert private.connections == 0


def test_a_client_calls_only_its_own_endpoint(bystander: HostileServer) -> None:
    async def main() -> None:
        async with http_client(trusted_endpoint(CONFIGURED), httpx2.Timeout(1.0)) as client:
            with pytest.raises(RefusedByPolicy, match="is not the endpoint"):
                await client.get(f"{bystander.url}/props")

    asyncio.run(main())
    assert bystander.connections == 0


def test_the_pool_checks_a_url_by_its_policys_rules(bystander: HostileServer) -> None:
    async def main() -> None:
        pool = ClientPool(timeouts=FAST, egress=policy())
        with pytest.raises(errors.PermissionDenied):
            pool.get(f"{bystander.url}/v1", "")
        assert pool.get(CONFIGURED, "").checked.rule == "OPENAI_BASE_URL"
        await pool.close()

    asyncio.run(main())
    assert bystander.connections == 0
