"""The HTTP side of the egress policy: what every LLM call goes through.

`http_client(endpoint)` is the only way the agent builds an HTTP client for an LLM endpoint
(the `openai` client's and the `/props` fetch's). It is an `httpx2.AsyncClient` (the `openai`
package's HTTP library) that:

- **follows no redirect** (`openai`'s own default client follows them): a 3xx is an answer;
- **calls only its endpoint**: a request for another scheme, host or port is refused (this also
  catches a URL that the policy's parser, urllib's, and httpx's would read differently);
- for an endpoint admitted as "any public endpoint", **resolves the host for every request,
  checks every address and connects to the address it checked** (`Host` and the TLS name stay
  the host's), so DNS rebinding between the edge's check and the connection gains nothing;
- **bounds every reply**: at most `MAX_RESPONSE_BYTES` (1 MiB) of body, told by Content-Length
  or counted as it arrives, and the whole exchange within its connect + read timeouts. httpx's
  read timeout is per read, so a server dripping a byte a second never trips it; this deadline
  is for the whole reply (a completion's read timeout is already meant as "the prompt processed
  and the reply generated"). Replies are asked for uncompressed (`Accept-Encoding: identity`) and
  a compressed one is refused: 1 MiB of gzip can inflate to gigabytes after the count;
- uses no proxy from the environment (`trust_env=False`): a proxy would connect where the policy
  cannot see. An agent that must reach the internet through a proxy is not supported yet.

Refusals and cut-offs are `httpx2` errors, so `openai` reports them as it reports a connection
error (`APIConnectionError`, with ours as its `__cause__`) or a timeout (`APITimeoutError`).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx2

from agent_service.llm.egress import CheckedEndpoint, EgressRefused, public_url

T = TypeVar("T")

MAX_RESPONSE_BYTES = 1 << 20
# Connections per client: episodes in flight share one client per endpoint, and the endpoint's
# gate (slots.py) bounds the calls in flight anyway.
LIMITS = httpx2.Limits(max_connections=256, max_keepalive_connections=32)


class RefusedByPolicy(httpx2.ConnectError):
    """The egress policy refused the connection (no connection was opened)."""


class ResponseTooLarge(httpx2.ReadError):
    """The reply is larger than the agent reads, or compressed (the connection is closed)."""


def http_client(endpoint: CheckedEndpoint, timeout: httpx2.Timeout) -> httpx2.AsyncClient:
    """An HTTP client for `endpoint` alone, under the rules of the module docstring."""
    return httpx2.AsyncClient(
        transport=GuardedTransport(endpoint),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"Accept-Encoding": "identity"},
    )


class GuardedTransport(httpx2.AsyncBaseTransport):
    def __init__(self, endpoint: CheckedEndpoint, *, max_body_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.endpoint = endpoint
        self._max_body_bytes = max_body_bytes
        self._inner = httpx2.AsyncHTTPTransport(
            verify=_ssl_context(), trust_env=False, limits=LIMITS, retries=0
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if not self.endpoint.same_origin(url.scheme, url.host, url.port):
            raise RefusedByPolicy(
                f"refused by the egress policy: {public_url(str(url))} is not the endpoint "
                f"{public_url(self.endpoint.base_url)}",
                request=request,
            )
        deadline = _deadline(request)
        response = await _within(deadline, lambda: self._send(request), request)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        length = response.headers.get("content-length", "")
        if encoding != "identity" or (length.isdigit() and int(length) > self._max_body_bytes):
            await response.aclose()
            what = f"compressed ({encoding})" if encoding != "identity" else f"{length} bytes long"
            raise ResponseTooLarge(
                f"the reply is {what}; the agent reads at most {self._max_body_bytes} bytes, uncompressed",
                request=request,
            )
        stream = response.stream
        assert isinstance(stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=BoundedStream(stream, self._max_body_bytes, deadline, request),
            extensions=response.extensions,
        )

    async def _send(self, request: httpx2.Request) -> httpx2.Response:
        guard = self.endpoint.guard
        if guard is None:  # a trusted endpoint: the operator named it
            return await self._inner.handle_async_request(request)
        host, port = self.endpoint.host, self.endpoint.port
        try:
            addresses = await guard.addresses(host, port)
        except EgressRefused as refused:
            raise RefusedByPolicy(str(refused), request=request) from None
        failed: httpx2.ConnectError | None = None
        for address in addresses:
            pinned = httpx2.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,  # Host: the name, not the address
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": host},
            )
            try:
                return await self._inner.handle_async_request(pinned)
            except httpx2.ConnectError as error:  # nothing sent yet: try the next address
                failed = error
        assert failed is not None
        raise failed

    async def aclose(self) -> None:
        await self._inner.aclose()


class BoundedStream(httpx2.AsyncByteStream):
    """A reply body cut off past `max_bytes` or past `deadline` (the event loop's clock)."""

    def __init__(
        self, inner: httpx2.AsyncByteStream, max_bytes: int, deadline: float | None, request: httpx2.Request
    ) -> None:
        self._inner = inner
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = aiter(self._inner)
        received = 0
        while True:
            try:
                chunk = await _within(self._deadline, lambda: anext(chunks), self._request)
            except StopAsyncIteration:
                return
            received += len(chunk)
            if received > self._max_bytes:
                raise ResponseTooLarge(
                    f"the reply is longer than the {self._max_bytes} bytes the agent reads",
                    request=self._request,
                )
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One for every client: making one loads the CA certificates (~45 ms of CPU each time).
    SSL_CERT_FILE / SSL_CERT_DIR are honoured (a private CA for an internal endpoint)."""
    return httpx2.create_ssl_context()


def _deadline(request: httpx2.Request) -> float | None:
    """When the whole exchange must be over: its connect and read timeouts from now."""
    timeout: dict[str, Any] = request.extensions.get("timeout", {})
    connect, read = timeout.get("connect"), timeout.get("read")
    if not isinstance(connect, int | float) or not isinstance(read, int | float):
        return None
    return asyncio.get_running_loop().time() + float(connect) + float(read)


async def _within(deadline: float | None, start: Callable[[], Awaitable[T]], request: httpx2.Request) -> T:
    """`await start()`, cut off at `deadline` (an httpx2.ReadTimeout, which openai reports as a
    timeout)."""
    if deadline is None:
        return await start()
    remaining = deadline - asyncio.get_running_loop().time()
    try:
        if remaining <= 0:
            raise TimeoutError
        async with asyncio.timeout(remaining):
            return await start()
    except TimeoutError:
        raise httpx2.ReadTimeout("the reply took longer than its time limit", request=request) from None
