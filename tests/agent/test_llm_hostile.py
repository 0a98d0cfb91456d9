"""A hostile LLM endpoint is cut off within bounds (agent_service/llm/transport.py), and the
clients kept per endpoint are bounded (client.ClientPool). Real servers: `hostile_http` for what
no honest server sends, `fake_openai` for an honest one and for a model answering a 1 MB line.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator

import pytest

from agent_service.episode import EpisodeRequest, PolicyKind
from agent_service.llm.client import (
    MAX_REPLY_CHARS,
    CallFailed,
    ChatClient,
    ClientPool,
    Completion,
    Endpoint,
    Message,
    Timeouts,
)
from agent_service.llm.egress import trusted_endpoint
from agent_service.llm.served_model import EndpointUnreachable, describe_endpoint, resolve_served_model
from agent_service.llm.transport import MAX_RESPONSE_BYTES
from agent_service.settings import EpisodeSettings
from alfagent_common import errors
from tests.agent.fake_openai import FakeOpenAI
from tests.agent.hostile_http import HostileServer

# Per read 2 s, so a byte every 0.2 s never trips httpx's own read timeout: only the deadline
# on the whole reply (connect + read = 3 s) does.
TIMEOUTS = Timeouts(read_seconds=2.0, connect_seconds=1.0)
DEADLINE = TIMEOUTS.read_seconds + TIMEOUTS.connect_seconds
MESSAGES = [Message("user", "You are in the middle of a room.")]


def client_for(base_url: str) -> ChatClient:
    # No slot discovery (/props): each test is about one call.
    return ChatClient(base_url, "", timeouts=TIMEOUTS, endpoint=Endpoint(base_url, concurrency=-1))


async def timed_call(client: ChatClient) -> tuple[Completion | CallFailed, float]:
    started = time.perf_counter()
    try:
        result: Completion | CallFailed = await client.complete("m", MESSAGES, temperature=0)
    except CallFailed as failed:
        result = failed
    return result, time.perf_counter() - started


def call(base_url: str) -> tuple[Completion | CallFailed, float]:
    async def main() -> tuple[Completion | CallFailed, float]:
        client = client_for(base_url)
        try:
            return await timed_call(client)
        finally:
            await client.close()

    return asyncio.run(main())


@pytest.fixture
def honest() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="no-key") as server:
        yield server


# -- replies bounded in bytes and time --------------------------------------------------------


def test_an_endless_body_is_cut_off_past_the_limit() -> None:
    with HostileServer("endless") as server:
        failed, seconds = call(f"{server.url}/v1")
    assert isinstance(failed, CallFailed)
    assert (failed.cause, failed.retryable) == ("bad_response", False)
    assert f"{MAX_RESPONSE_BYTES} bytes" in str(failed)
    assert seconds < 2.0


@pytest.mark.parametrize("mode", ["drip", "drip_headers"])
def test_a_slow_drip_is_cut_off_at_the_replys_deadline(mode: str) -> None:
    with HostileServer(mode, interval=0.2) as server:
        failed, seconds = call(f"{server.url}/v1")
    assert isinstance(failed, CallFailed) and failed.cause == "timeout"
    assert DEADLINE - 0.5 < seconds < DEADLINE + 1.0


@pytest.mark.parametrize(("mode", "said"), [("huge_length", "104857600 bytes long"), ("gzip", "compressed")])
def test_a_reply_announced_too_long_or_compressed_is_refused_unread(mode: str, said: str) -> None:
    with HostileServer(mode) as server:
        failed, seconds = call(f"{server.url}/v1")
    assert isinstance(failed, CallFailed) and failed.cause == "bad_response" and said in str(failed)
    assert seconds < 2.0


def test_the_agent_asks_for_replies_uncompressed() -> None:
    with HostileServer("ok") as server:
        done, _ = call(f"{server.url}/v1")
    assert isinstance(done, Completion) and done.text == "look"
    assert server.requests[0].headers["accept-encoding"] == "identity"


def test_a_one_megabyte_reply_line_is_refused(honest: FakeOpenAI) -> None:
    honest.script("x" * 1_000_000)
    failed, _ = call(honest.base_url)
    assert isinstance(failed, CallFailed)
    assert (failed.cause, failed.retryable) == ("bad_response", False)
    assert f"1000000 characters; the agent reads at most {MAX_REPLY_CHARS}" in str(failed)
    # Past the byte limit, it is not even parsed.
    honest.script("x" * 2_000_000)
    failed, _ = call(honest.base_url)
    assert isinstance(failed, CallFailed) and "sent too much" in str(failed)


def test_a_hostile_endpoint_does_not_slow_down_calls_to_another(honest: FakeOpenAI) -> None:
    async def honest_latencies(client: ChatClient, n: int) -> list[float]:
        latencies = []
        for _ in range(n):
            done, seconds = await timed_call(client)
            assert isinstance(done, Completion)
            latencies.append(seconds)
        return latencies

    async def main(dripping: str, endless: str) -> tuple[list[float], list[float]]:
        good = client_for(honest.base_url)
        quiet = await honest_latencies(good, 10)
        hostile = [client_for(dripping), client_for(endless), client_for(endless)]
        attacks = [asyncio.ensure_future(timed_call(c)) for c in hostile]
        loud = await honest_latencies(good, 10)
        assert not all(attack.done() for attack in attacks), "the drip lasts past the honest calls"
        await asyncio.gather(*attacks)
        for client in (good, *hostile):
            await client.close()
        return quiet, loud

    with HostileServer("drip") as dripping, HostileServer("endless") as endless:
        quiet, loud = asyncio.run(main(f"{dripping.url}/v1", f"{endless.url}/v1"))
    # Within 2x of a quiet run (plus 20 ms of slack for a shared 2-core machine).
    assert statistics.median(loud) <= 2 * statistics.median(quiet) + 0.02, (quiet, loud)


def test_a_failure_tells_the_caller_unreachable_not_why() -> None:
    failed, _ = call("http://127.0.0.1:9/v1")  # nothing listens on the discard port
    assert isinstance(failed, CallFailed) and failed.cause == "connection"
    assert str(failed) == "LLM endpoint http://127.0.0.1:9/v1 unreachable"


# -- the served model's /props, likewise bounded ----------------------------------------------


def test_props_from_a_hostile_endpoint_says_nothing_or_not_answering() -> None:
    with HostileServer("endless") as endless:
        started = time.perf_counter()
        assert asyncio.run(describe_endpoint(f"{endless.url}/v1")) is None
        assert time.perf_counter() - started < 2.0
    with HostileServer("drip", interval=0.2) as dripping:
        started = time.perf_counter()
        with pytest.raises(EndpointUnreachable):
            asyncio.run(describe_endpoint(f"{dripping.url}/v1", timeout_seconds=1.0))
        assert time.perf_counter() - started < 3.0


def test_an_endpoint_not_answering_is_unavailable_without_the_reason() -> None:
    request = EpisodeRequest(PolicyKind.LLM, settings=EpisodeSettings(base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(errors.Unavailable) as unavailable:
        asyncio.run(resolve_served_model(request))
    message = str(unavailable.value)
    assert "http://127.0.0.1:9/v1 is not answering" in message
    for detail in ("refused", "Errno", "timed out", "111"):
        assert detail not in message


# -- clients per endpoint: an LRU that closes what it evicts ----------------------------------


def test_the_pool_keeps_at_most_its_size_and_closes_the_evicted(honest: FakeOpenAI) -> None:
    root = honest.base_url.removesuffix("/v1")

    async def main() -> None:
        pool = ClientPool(timeouts=TIMEOUTS, concurrency=-1, size=2)
        a = pool.get(f"{root}/a/v1", "")
        assert isinstance(await a.complete("m", MESSAGES, temperature=0), Completion)
        opened = a._client  # the HTTP client to watch
        assert opened is not None and a.is_open
        b = pool.get(f"{root}/b/v1", "")
        assert pool.get(f"{root}/a/v1", "") is a  # a is now the most recent
        pool.get(f"{root}/c/v1", "")
        assert len(pool) == 2 and b.retired and not a.retired
        pool.get(f"{root}/d/v1", "")
        assert a.retired
        await asyncio.sleep(0.05)  # the eviction's close runs as a task
        assert not a.is_open and opened.is_closed()
        # An episode still holding it gets its calls made, each on a client closed after it.
        assert isinstance(await a.complete("m", MESSAGES, temperature=0), Completion)
        assert (a.opened, a.is_open) == (2, False)
        await pool.close()

    asyncio.run(main())
    assert [r.path for r in honest.requests] == ["/a/v1/chat/completions"] * 2


def test_a_client_evicted_during_a_call_closes_when_the_call_ends() -> None:
    with FakeOpenAI(api_key="no-key", delay_seconds=0.5) as slow:
        root = slow.base_url.removesuffix("/v1")

        async def main() -> None:
            pool = ClientPool(timeouts=TIMEOUTS, concurrency=-1, size=1)
            a = pool.get(f"{root}/a/v1", "")
            in_flight = asyncio.ensure_future(a.complete("m", MESSAGES, temperature=0))
            await asyncio.sleep(0.2)
            pool.get(f"{root}/b/v1", "")
            assert a.retired and a.is_open, "not closed under a call"
            assert isinstance(await in_flight, Completion)
            assert not a.is_open
            await pool.close()

        asyncio.run(main())


def test_clients_of_one_endpoint_share_its_queue(honest: FakeOpenAI) -> None:
    pool = ClientPool(timeouts=TIMEOUTS)
    keyed, unkeyed = pool.get(honest.base_url, "sk-k"), pool.get(honest.base_url + "/", "")
    assert keyed is not unkeyed and keyed.endpoint is unkeyed.endpoint
    assert pool.get(trusted_endpoint(honest.base_url), "sk-k") is keyed
    asyncio.run(pool.close())
