"""One OpenAI-compatible chat-completions endpoint, reached with the `openai` client as it is.

The client's own retries are off (`max_retries=0`): retries are ours (`agent_service.llm.retries`)
so that each one is counted in the trajectory. Every failure becomes a `CallFailed` naming its
cause ("429", "503", "timeout", "connection", "bad_response", "401", ...) and whether retrying
may help. Error messages never contain the API key: they are built from the status and the
server's message with anything key-like masked.

Timeouts: connecting has its own short timeout; reading the answer has a long one, because a
non-streamed completion sends nothing until the whole prompt is processed and the reply
generated (a fresh 3k-token prompt takes ~45-60 s on 2 CPU cores). Time spent waiting for a free
server slot is spent in the agent's own queue (`agent_service.llm.slots`), outside any timeout.

Two llama.cpp server extensions are used where they exist, at the base URL without `/v1`:
`GET /props` (slots and context size) and `POST /tokenize` (real token counts). Endpoints without
them (OpenAI, vLLM) simply answer 404 once and are not asked again.

Egress: a client is built for one `egress.CheckedEndpoint` and talks HTTP only through
`transport.http_client` (no redirects, only its endpoint, replies bounded in bytes and time). A
reply whose text is longer than `MAX_REPLY_CHARS` is refused: one answer is one line. Clients are
kept per endpoint in `ClientPool`, an LRU of bounded size (ALFAGENT_LLM_CLIENTS) that closes the
clients it evicts.

Each completion request's duration, answered or failed, is reported to the observer of the episode
making it (`llm/observed.py`; the agent's metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

import openai
import pydantic
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from agent_service.episode import Usage
from agent_service.llm import observed
from agent_service.llm.egress import CheckedEndpoint, EgressPolicy, public_url, trusted_endpoint
from agent_service.llm.slots import EndpointGate, ServerProps
from agent_service.llm.transport import RefusedByPolicy, ResponseTooLarge, http_client

__all__ = ["CallFailed", "ChatClient", "ClientPool", "Completion", "Message", "Timeouts", "public_url"]

log = logging.getLogger(__name__)

# What `openai` is given when no key is configured: local servers (vLLM, Ollama, llama.cpp)
# accept anything, and the client refuses an empty key.
NO_KEY = "no-key"

# Statuses that say "try again later" even though they are 4xx.
_RETRYABLE_4XX = {408, 409, 429}
_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk|key)-[A-Za-z0-9_\-*.]{4,}|Bearer\s+\S+", re.IGNORECASE)
_MAX_SERVER_MESSAGE = 300

# Asking a server about itself (/props, /tokenize) must be quick; a server that takes longer is
# treated as not having the extension this time.
_EXTENSION_TIMEOUT = openai.Timeout(10.0, connect=5.0)
# The longest reply text read: one answer is one line (a command takes 5-11 tokens, a thought
# 20-40; README "max_tokens"), so 64 Ki characters (~16k tokens) is already a runaway.
MAX_REPLY_CHARS = 64 * 1024
# Clients (each with its connection pool) kept open at once, one per endpoint and key.
DEFAULT_POOL_SIZE = 16

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Timeouts:
    # Reading one completion: the whole prompt processed and the reply generated, once a server
    # slot is ours (see module docstring).
    read_seconds: float = 300.0
    # Opening a connection: a server that is down is known at once.
    connect_seconds: float = 10.0

    def for_client(self) -> openai.Timeout:
        return openai.Timeout(self.read_seconds, connect=self.connect_seconds)


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    # From sending the request to the whole answer (not counting the wait for a server slot).
    latency_ms: float
    # Waiting in the agent's queue for a free server slot.
    queued_ms: float = 0.0


class CallFailed(Exception):
    """One call to the endpoint failed; `cause` is what the trajectory counts it as."""

    def __init__(
        self,
        cause: str,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        context_tokens: int = 0,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.retryable = retryable
        # Seconds the server asked us to wait (429 Retry-After), if it said.
        self.retry_after = retry_after
        # The context size the server said the prompt exceeded (llama-server's 400), if it did.
        self.context_tokens = context_tokens


def server_root(base_url: str) -> str:
    """Where llama-server's own endpoints live: the base URL without a final `/v1`."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def retry_after_seconds(headers: object, now: float | None = None) -> float | None:
    """Retry-After (seconds or an HTTP date) or retry-after-ms, as seconds; None when absent."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    milliseconds = get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class Endpoint:
    """What the agent knows about one base URL, shared by every client and episode using it."""

    def __init__(self, base_url: str, *, concurrency: int = 0) -> None:
        self.base_url = base_url
        self.gate = EndpointGate(concurrency)
        # None: not asked yet, or the server could not be reached when asked.
        self.props: ServerProps | None = None
        # Episodes starting together ask once.
        self.props_lock = asyncio.Lock()
        # False once /tokenize answered that it does not exist here.
        self.tokenize_available = True

    @property
    def key(self) -> str:
        return self.base_url.rstrip("/")


class ChatClient:
    """The `openai` client for one checked endpoint. A plain URL is taken as the agent's own
    endpoint (`egress.trusted_endpoint`): that is for tests and for callers not yet passing
    the `CheckedEndpoint` the edge made.

    The HTTP client is opened at the first call. A client the pool has evicted (`retire`) is
    closed as soon as no call is in flight; called again (an episode still holding it), it opens
    for that call and closes after it.
    """

    def __init__(
        self,
        base_url: CheckedEndpoint | str,
        api_key: str,
        *,
        timeouts: Timeouts | None = None,
        endpoint: Endpoint | None = None,
    ) -> None:
        self.checked = trusted_endpoint(base_url) if isinstance(base_url, str) else base_url
        self.base_url = self.checked.base_url
        self.endpoint = endpoint or Endpoint(self.base_url)
        self._root = server_root(self.base_url)
        self._api_key = api_key
        self._timeout = (timeouts or Timeouts()).for_client()
        self._secrets = tuple(s for s in {api_key, api_key.strip()} if s)
        self._client: openai.AsyncOpenAI | None = None
        self._in_flight = 0
        self.retired = False
        # Opened HTTP clients so far (one unless it was closed and opened again).
        self.opened = 0

    @property
    def is_open(self) -> bool:
        return self._client is not None

    def _open(self) -> openai.AsyncOpenAI:
        self.opened += 1
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key or NO_KEY,
            timeout=self._timeout,
            max_retries=0,
            http_client=http_client(self.checked, self._timeout),
        )

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[openai.AsyncOpenAI]:
        if self._client is None:
            self._client = self._open()
        self._in_flight += 1
        try:
            yield self._client
        finally:
            self._in_flight -= 1
            if self.retired and self._in_flight == 0:
                await self._shut()

    def retire(self) -> asyncio.Task[None] | None:
        """Evicted: close now if idle (the task doing it), else when the last call ends."""
        self.retired = True
        if self._client is None or self._in_flight:
            return None
        try:
            return asyncio.get_running_loop().create_task(self._shut())
        except RuntimeError:  # no event loop: nothing can be in flight, nothing to await
            self._client = None
            return None

    async def _shut(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return _KEY_LIKE.sub("[redacted]", text)

    async def complete(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        temperature: float,
        max_tokens: int = 0,
        seed: int | None = None,
        stop: Sequence[str] = (),
        grammar: str | None = None,
    ) -> Completion:
        params = [_param(message) for message in messages]
        await self.endpoint.gate.resolve(self.props)
        queued = time.perf_counter()
        async with self.endpoint.gate.slot():
            started = time.perf_counter()
            try:
                response = await self._create(model, params, temperature, max_tokens, seed, stop, grammar)
            finally:
                # Every request sent, answered or not (agent_service/metrics.py).
                latency_ms = (time.perf_counter() - started) * 1000
                observed.report(self.base_url, latency_ms / 1000)
        return self._completion(response, latency_ms, (started - queued) * 1000)

    async def _create(
        self,
        model: str,
        params: list[ChatCompletionMessageParam],
        temperature: float,
        max_tokens: int,
        seed: int | None,
        stop: Sequence[str],
        grammar: str | None = None,
    ) -> object:
        try:
            async with self._session() as client:
                return await client.chat.completions.create(
                    model=model,
                    messages=params,
                    temperature=temperature,
                    max_tokens=max_tokens if max_tokens > 0 else openai.omit,
                    seed=seed if seed is not None else openai.omit,
                    stop=list(stop) if stop else openai.omit,
                    # llama-server's GBNF constraint (llm/decoding.py); absent unless asked for.
                    extra_body={"grammar": grammar} if grammar else None,
                )
        except openai.APITimeoutError:
            raise CallFailed("timeout", self._say("timed out"), retryable=True) from None
        except openai.APIConnectionError as error:
            raise self._connection_error(error) from None
        except openai.APIStatusError as error:
            raise self._status_error(error) from None
        except (openai.APIResponseValidationError, json.JSONDecodeError, pydantic.ValidationError):
            raise self._bad_response("sent a reply that is not a chat completion") from None

    def _completion(self, response: object, latency_ms: float, queued_ms: float) -> Completion:
        if not isinstance(response, ChatCompletion):
            raise self._bad_response("sent a reply that is not JSON")
        if not response.choices or response.choices[0].message.content is None:
            raise self._bad_response("sent a completion with no text")
        text = response.choices[0].message.content
        if len(text) > MAX_REPLY_CHARS:
            # Not retried: the same prompt would get the same runaway.
            what = f"sent a reply of {len(text)} characters; the agent reads at most {MAX_REPLY_CHARS}"
            raise CallFailed("bad_response", self._say(what), retryable=False)
        return Completion(
            text=text,
            usage=_usage(response),
            latency_ms=latency_ms,
            queued_ms=queued_ms,
        )

    async def props(self) -> ServerProps | None:
        """llama-server's `GET /props`, asked once per endpoint: `ServerProps()` (nothing known)
        when the endpoint has no such thing, None when it could not be reached (ask again)."""
        endpoint = self.endpoint
        if endpoint.props is not None:
            return endpoint.props
        async with endpoint.props_lock:
            if endpoint.props is not None:
                return endpoint.props
            try:
                async with self._session() as client:
                    body = await client.get(
                        f"{self._root}/props", cast_to=object, options={"timeout": _EXTENSION_TIMEOUT}
                    )
            except openai.APIConnectionError:
                return None  # down: the call that follows will say so
            except openai.APIStatusError as error:
                if error.status_code == 503:
                    return None  # llama-server still loading its model
                body = None  # 404 and the like: not a llama.cpp server
            except (openai.APIError, ValueError):
                body = None
            endpoint.props = ServerProps.from_json(body)
        return endpoint.props

    async def count_tokens(self, text: str) -> int | None:
        """Tokens of `text` by the server's own tokenizer (`POST /tokenize`); None where the
        endpoint has none (then it is not asked again) or it failed this time."""
        if not self.endpoint.tokenize_available:
            return None
        try:
            async with self._session() as client:
                body = await client.post(
                    f"{self._root}/tokenize",
                    cast_to=object,
                    body={"content": text, "add_special": False},
                    options={"timeout": _EXTENSION_TIMEOUT},
                )
        except (openai.APIConnectionError, openai.InternalServerError):
            return None
        except (openai.APIError, ValueError):
            self.endpoint.tokenize_available = False
            return None
        tokens = body.get("tokens") if isinstance(body, dict) else None
        if not isinstance(tokens, list):
            self.endpoint.tokenize_available = False
            return None
        return len(tokens)

    def _status_error(self, error: openai.APIStatusError) -> CallFailed:
        status = error.status_code
        detail = self.redact(_server_message(error))[:_MAX_SERVER_MESSAGE]
        message = self._say(f"answered HTTP {status}" + (f": {detail}" if detail else ""))
        if status in _RETRYABLE_4XX or status >= 500:
            after = retry_after_seconds(error.response.headers) if status == 429 else None
            return CallFailed(str(status), message, retryable=True, retry_after=after)
        return CallFailed(str(status), message, retryable=False, context_tokens=_context_exceeded(error))

    def _bad_response(self, what: str) -> CallFailed:
        return CallFailed("bad_response", self._say(what), retryable=True)

    def _connection_error(self, error: openai.APIConnectionError) -> CallFailed:
        """Nothing about the network beyond "unreachable" goes back to the caller (refused,
        unknown name, reset: a port scanner's answers), only the policy's own refusals."""
        cause = error.__cause__
        log.info("LLM endpoint %s: %r", public_url(self.base_url), cause)
        if isinstance(cause, RefusedByPolicy):
            return CallFailed("egress", self._say(str(cause)), retryable=False)
        if isinstance(cause, ResponseTooLarge):
            return CallFailed("bad_response", self._say(f"sent too much: {cause}"), retryable=False)
        return CallFailed("connection", self._say("unreachable"), retryable=True)

    def _say(self, what: str) -> str:
        return f"LLM endpoint {public_url(self.base_url)} {what}"

    async def close(self) -> None:
        self.retired = True
        await self._shut()


def _param(message: Message) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "assistant":
        return {"role": "assistant", "content": message.content}
    return {"role": "user", "content": message.content}


def _usage(response: ChatCompletion) -> Usage:
    usage = response.usage
    if usage is None:
        return Usage()
    cached = 0
    details = usage.prompt_tokens_details
    if details is not None and details.cached_tokens:
        cached = details.cached_tokens
    else:
        # llama-server's own report, also in older versions without prompt_tokens_details.
        timings = (response.model_extra or {}).get("timings")
        cache_n = timings.get("cache_n") if isinstance(timings, dict) else None
        cached = cache_n if isinstance(cache_n, int) and cache_n > 0 else 0
    return Usage(usage.prompt_tokens, usage.completion_tokens, cached)


def _context_exceeded(error: openai.APIStatusError) -> int:
    """The context size a llama-server 400 says the prompt exceeded; 0 for any other error."""
    body = error.body
    inner = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(inner, dict) or inner.get("type") != "exceed_context_size_error":
        return 0
    n_ctx = inner.get("n_ctx")
    return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else 0


def _server_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return ""


class ClientPool:
    """Clients per (endpoint, key), shared by every episode; one `Endpoint` (its queue, what the
    server said about itself) per base URL among them.

    At most `size` are kept, least recently asked for evicted first: an evicted client is closed
    once its calls in flight end (`ChatClient.retire`), so open clients number at most `size`
    plus those still serving a call. Requests name endpoints (paths below an allowed one, or any
    public one under `*`), so without the bound a caller could open clients without end. What
    an endpoint told about itself and its queue live as long as one of its clients is kept: after
    an eviction they are learnt again, and calls still queued on the old queue are not counted
    in the new one's.
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        concurrency: int = 0,
        size: int = DEFAULT_POOL_SIZE,
        egress: EgressPolicy | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"a client pool holds at least 1 client, not {size}")
        self._timeouts = timeouts or Timeouts()
        self._concurrency = concurrency
        self._size = size
        self._egress = egress
        self._clients: OrderedDict[tuple[str, str], ChatClient] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, endpoint: CheckedEndpoint | str, api_key: str) -> ChatClient:
        """The client for `endpoint` (checked by the edge; a URL is checked here by the pool's
        egress policy's rules, or taken as the agent's own when the pool has none)."""
        if isinstance(endpoint, str):
            endpoint = self._egress.endpoint(endpoint) if self._egress else trusted_endpoint(endpoint)
        key = (endpoint.base_url, api_key)
        client = self._clients.pop(key, None)
        if client is not None and client.checked == endpoint:
            self._clients[key] = client  # now the most recent
            return client
        if client is not None:  # admitted under another rule since: replaced
            self._track(client.retire())
        shared = next((c.endpoint for c in self._clients.values() if c.endpoint.key == endpoint.key), None)
        client = self._clients[key] = ChatClient(
            endpoint,
            api_key,
            timeouts=self._timeouts,
            endpoint=shared or Endpoint(endpoint.base_url, concurrency=self._concurrency),
        )
        while len(self._clients) > self._size:
            _, evicted = self._clients.popitem(last=False)
            self._track(evicted.retire())
        return client

    def __len__(self) -> int:
        return len(self._clients)

    def _track(self, closing: asyncio.Task[None] | None) -> None:
        if closing is not None:
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.close()
        await asyncio.gather(*self._closing, return_exceptions=True)
