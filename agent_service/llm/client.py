"""One OpenAI-compatible chat-completions endpoint, reached with the `openai` client as it is.

The client's own retries are off (`max_retries=0`): retries are ours (`agent_service.llm.retries`)
so that each one is counted in the trajectory. Every failure becomes a `CallFailed` naming its
cause ("429", "503", "timeout", "connection", "bad_response", "401", ...) and whether retrying
may help. Error messages never contain the API key: they are built from the status and the
server's message with anything key-like masked.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import openai
import pydantic
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from agent_service.episode import Usage

# What `openai` is given when no key is configured: local servers (vLLM, Ollama, llama.cpp)
# accept anything, and the client refuses an empty key.
NO_KEY = "no-key"

# Statuses that say "try again later" even though they are 4xx.
_RETRYABLE_4XX = {408, 409, 429}
_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk|key)-[A-Za-z0-9_\-*.]{4,}|Bearer\s+\S+", re.IGNORECASE)
_MAX_SERVER_MESSAGE = 300

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    latency_ms: float


class CallFailed(Exception):
    """One call to the endpoint failed; `cause` is what the trajectory counts it as."""

    def __init__(
        self, cause: str, message: str, *, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.retryable = retryable
        # Seconds the server asked us to wait (429 Retry-After), if it said.
        self.retry_after = retry_after


def public_url(base_url: str) -> str:
    """The endpoint without any user:password part, fit for messages and trajectories."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


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


class ChatClient:
    def __init__(self, base_url: str, api_key: str, *, timeout_seconds: float) -> None:
        self.base_url = base_url
        self._secrets = tuple(s for s in {api_key, api_key.strip()} if s)
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or NO_KEY, timeout=timeout_seconds, max_retries=0
        )

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
    ) -> Completion:
        params = [_param(message) for message in messages]
        started = time.perf_counter()
        try:
            response = await self._client.chat.completions.create(
                model=model,
                messages=params,
                temperature=temperature,
                max_tokens=max_tokens if max_tokens > 0 else openai.omit,
                seed=seed if seed is not None else openai.omit,
            )
        except openai.APITimeoutError:
            raise CallFailed("timeout", self._say("timed out"), retryable=True) from None
        except openai.APIConnectionError as error:
            raise CallFailed("connection", self._say(f"unreachable ({error})"), retryable=True) from None
        except openai.APIStatusError as error:
            raise self._status_error(error) from None
        except (openai.APIResponseValidationError, json.JSONDecodeError, pydantic.ValidationError):
            raise self._bad_response("sent a reply that is not a chat completion") from None
        latency_ms = (time.perf_counter() - started) * 1000
        return self._completion(response, latency_ms)

    def _completion(self, response: object, latency_ms: float) -> Completion:
        if not isinstance(response, ChatCompletion):
            raise self._bad_response("sent a reply that is not JSON")
        if not response.choices or response.choices[0].message.content is None:
            raise self._bad_response("sent a completion with no text")
        usage = response.usage
        return Completion(
            text=response.choices[0].message.content,
            usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
            latency_ms=latency_ms,
        )

    def _status_error(self, error: openai.APIStatusError) -> CallFailed:
        status = error.status_code
        detail = self.redact(_server_message(error))[:_MAX_SERVER_MESSAGE]
        message = self._say(f"answered HTTP {status}" + (f": {detail}" if detail else ""))
        if status in _RETRYABLE_4XX or status >= 500:
            after = retry_after_seconds(error.response.headers) if status == 429 else None
            return CallFailed(str(status), message, retryable=True, retry_after=after)
        return CallFailed(str(status), message, retryable=False)

    def _bad_response(self, what: str) -> CallFailed:
        return CallFailed("bad_response", self._say(what), retryable=True)

    def _say(self, what: str) -> str:
        return f"LLM endpoint {public_url(self.base_url)} {what}"

    async def close(self) -> None:
        await self._client.close()


def _param(message: Message) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "assistant":
        return {"role": "assistant", "content": message.content}
    return {"role": "user", "content": message.content}


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
    """One client (one connection pool) per (base_url, key), shared by every episode."""

    def __init__(self, *, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds
        self._clients: dict[tuple[str, str], ChatClient] = {}

    def get(self, base_url: str, api_key: str) -> ChatClient:
        key = (base_url, api_key)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = ChatClient(base_url, api_key, timeout_seconds=self._timeout)
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
