"""A real HTTP server speaking the OpenAI chat-completions protocol, for tests and benchmarks.

It runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) in a daemon thread, so the
agent's real `openai` client talks to it over real sockets. Replies come from a queue of scripted
items, then from an optional `responder` (a function of the request body), then "look". An item is
either the text of a completion or a `Fault`:

    with FakeOpenAI(api_key="sk-test") as server:
        server.script("think: find the pencil", "go to desk 1", Fault.rate_limit(0.1), "look")
        ... base_url=server.base_url ...
        server.requests  # every chat-completion request received, in order

Like llama.cpp's server and OpenAI it honours `stop` (the reply is cut before the first stop
string), reports prompt tokens reused from a prompt cache (`usage.prompt_tokens_details.
cached_tokens`: the prefix shared with one of the last prompts, in tokens), and, with
`llama=True`, also answers llama-server's `GET /props` and `POST /tokenize`, reports `timings`,
refuses a prompt longer than `slot_context` with llama-server's 400, and serves at most `slots`
completions at once: the others wait in its queue, as llama-server's do, before `delay_seconds`
of work each.

Tokens are deterministic: a text is one token per 3 characters (rounded up), a message adds
`MESSAGE_OVERHEAD` tokens and the prompt `PROMPT_OVERHEAD`, like a chat template, so real counts
differ from the agent's characters / 4 fallback.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Body = dict[str, Any]


@dataclass(frozen=True)
class Fault:
    """One misbehaviour of the endpoint, consumed like a scripted reply."""

    kind: str  # "status" | "stall" | "drop" | "not_json" | "empty_choices"
    status: int = 0
    retry_after: float | None = None
    seconds: float = 0.0
    message: str = ""

    @classmethod
    def rate_limit(cls, retry_after: float) -> Fault:
        return cls("status", 429, retry_after=retry_after, message="Rate limit reached, slow down.")

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls("status", status, message="The server had an error while processing your request.")

    @classmethod
    def unauthorized(cls, message: str = "Incorrect API key provided.") -> Fault:
        return cls("status", 401, message=message)

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Answers only after `seconds`, past the client's timeout."""
        return cls("stall", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Reads the request and closes the connection without answering."""
        return cls("drop")

    @classmethod
    def not_json(cls) -> Fault:
        return cls("not_json")

    @classmethod
    def empty_choices(cls) -> Fault:
        return cls("empty_choices")


Reply = str | Fault
Responder = Callable[[Body], Reply]

MESSAGE_OVERHEAD = 4
PROMPT_OVERHEAD = 3
CHARS_PER_TOKEN = 3


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    body: Body
    authorization: str

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self.body.get("messages", []))

    @property
    def last_user_message(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


def text_tokens(text: str) -> list[str]:
    """The fake tokenizer: pieces of 3 characters."""
    return [text[i : i + CHARS_PER_TOKEN] for i in range(0, len(text), CHARS_PER_TOKEN)]


def count_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_tokens(messages: list[dict[str, str]]) -> list[str]:
    """The prompt as the server would process it: each message framed like a chat template."""
    tokens: list[str] = []
    for message in messages:
        role = str(message.get("role", ""))
        tokens += [f"<{role}>", *[f"<{role}:{i}>" for i in range(MESSAGE_OVERHEAD - 1)]]
        tokens += text_tokens(str(message.get("content", "")))
    return tokens + [f"<gen:{i}>" for i in range(PROMPT_OVERHEAD)]


def estimate_tokens(text: str) -> int:
    """Completion tokens of a reply."""
    return max(1, count_tokens(text))


def apply_stop(text: str, stop: object) -> str:
    """The reply cut before the first stop string, as servers do."""
    strings = [stop] if isinstance(stop, str) else list(stop) if isinstance(stop, list) else []
    cut = min((i for i in (text.find(s) for s in strings if s) if i >= 0), default=len(text))
    return text[:cut]


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class FakeOpenAI:
    api_key: str = "sk-fake-test-key"
    # Added to every completion (the benchmark's LLM latency), inside a slot when `slots` is set.
    delay_seconds: float = 0.0
    responder: Responder | None = None
    default_reply: str = "look"
    # llama-server's extensions: /props, /tokenize, `timings`, its context-size 400.
    llama: bool = False
    # Completions served at once (0: any number); the others wait in the server's queue.
    slots: int = 0
    # Tokens a prompt may have (llama mode; 0: any).
    slot_context: int = 0
    # The context /props reports (0: slot_context): a server may say more than it has.
    props_context: int = 0
    # Cached tokens in `usage.prompt_tokens_details` (older llama-servers only have `timings`).
    usage_details: bool = True
    requests: list[ReceivedRequest] = field(default_factory=list)
    # Every other request (/props, /tokenize, unknown paths), as "METHOD /path".
    other_requests: list[str] = field(default_factory=list)
    # Prompt tokens each completion reported as cached, in order.
    cached: list[int] = field(default_factory=list)
    # Most completions that were being served at the same moment.
    max_in_flight: int = 0
    _queue: deque[Reply] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _recent_prompts: deque[list[str]] = field(default_factory=lambda: deque(maxlen=4))
    _in_flight: int = 0
    _slot_semaphore: threading.Semaphore | None = None
    # Where to listen on 127.0.0.1 (0: any free port), e.g. one a stack allow-listed in advance.
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def next_reply(self, body: Body) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.responder(body) if self.responder is not None else self.default_reply

    def cache_lookup(self, tokens: list[str]) -> int:
        """Tokens of `tokens` a prompt cache holds (the longest prefix shared with a recent
        prompt), then remembers this prompt."""
        with self._lock:
            cached = max((_common_prefix(tokens, p) for p in self._recent_prompts), default=0)
            self._recent_prompts.append(tokens)
            self.cached.append(cached)
            return cached

    def serve_slot(self) -> threading.Semaphore | None:
        if self.slots > 0 and self._slot_semaphore is None:
            self._slot_semaphore = threading.Semaphore(self.slots)
        return self._slot_semaphore

    def reset(self, **settings: Any) -> None:
        """Back to a fresh server's state (scripts, records, settings), still listening: for a
        server shared by several tests, whose clients may keep their connections open."""
        with self._lock:
            for spec in fields(self):
                if spec.name in _KEPT_ON_RESET:
                    continue
                if spec.default_factory is not MISSING:
                    setattr(self, spec.name, spec.default_factory())
                elif spec.default is not MISSING:
                    setattr(self, spec.name, spec.default)
            for name, value in settings.items():
                setattr(self, name, value)
        self.serve_slot()

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def start(self) -> FakeOpenAI:
        self.serve_slot()
        server = _Server(("127.0.0.1", self.port), _handler_for(self))
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# What reset() leaves alone: the listening server itself.
_KEPT_ON_RESET = frozenset({"port", "_lock", "_server", "_thread"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops connection attempts when many episodes start at once, and a
    # dropped SYN costs the client a 1 s retransmission.
    request_queue_size = 256


def completion_body(model: str, text: str, prompt_tokens: int, cached_tokens: int = 0) -> Body:
    completion_tokens = estimate_tokens(text)
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every reply.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            with fake._lock:
                fake.other_requests.append(f"GET {self.path}")
            if fake.llama and self.path == "/props" and self._authorized():
                n_ctx = fake.props_context or fake.slot_context or 4096
                props = {"total_slots": fake.slots or 1, "default_generation_settings": {"n_ctx": n_ctx}}
                return self._json(200, props)
            return self._not_found()

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body: Body = json.loads(self.rfile.read(length) or b"{}")
            authorization = self.headers.get("authorization", "")
            if not self.path.endswith("/chat/completions"):
                with fake._lock:
                    fake.other_requests.append(f"POST {self.path}")
                if fake.llama and self.path == "/tokenize" and self._authorized():
                    tokens = list(range(count_tokens(str(body.get("content", "")))))
                    return self._json(200, {"tokens": tokens})
                return self._not_found()
            with fake._lock:
                fake.requests.append(ReceivedRequest(self.path, body, authorization))
            if authorization != f"Bearer {fake.api_key}":
                # Like the real API, quote the start of the key it was given.
                given = authorization.removeprefix("Bearer ")
                message = f"Incorrect API key provided: {given}. You can find your API key elsewhere."
                return self._json(401, {"error": {"message": message, "type": "invalid_request_error"}})
            slot = fake.serve_slot()
            if slot is not None:
                slot.acquire()  # llama-server's queue: waiting for a free slot
            fake.enter()
            try:
                self._complete(body)
            finally:
                fake.leave()
                if slot is not None:
                    slot.release()

        def _complete(self, body: Body) -> None:
            reply = fake.next_reply(body)
            if fake.delay_seconds:
                time.sleep(fake.delay_seconds)
            if isinstance(reply, Fault):
                return self._fault(reply)
            tokens = prompt_tokens(list(body.get("messages", [])))
            if fake.llama and fake.slot_context and len(tokens) >= fake.slot_context:
                message = (
                    f"request ({len(tokens)} tokens) exceeds the available context size "
                    f"({fake.slot_context} tokens), try increasing it"
                )
                error = {
                    "code": 400,
                    "message": message,
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": len(tokens),
                    "n_ctx": fake.slot_context,
                }
                return self._json(400, {"error": error})
            cached = fake.cache_lookup(tokens)
            text = apply_stop(reply, body.get("stop"))
            payload = completion_body(str(body.get("model", "")), text, len(tokens), cached)
            if not fake.usage_details:
                del payload["usage"]["prompt_tokens_details"]
            if fake.llama:
                payload["timings"] = {"cache_n": cached, "prompt_n": len(tokens) - cached}
            self._json(200, payload)

        def _authorized(self) -> bool:
            return self.headers.get("authorization", "") == f"Bearer {fake.api_key}"

        def _not_found(self) -> None:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def _fault(self, fault: Fault) -> None:
            if fault.kind == "status":
                headers = {} if fault.retry_after is None else {"retry-after": f"{fault.retry_after:g}"}
                error = {"message": fault.message, "type": "fault", "code": str(fault.status)}
                return self._json(fault.status, {"error": error}, headers)
            if fault.kind == "stall":
                time.sleep(fault.seconds)
                return self._json(200, completion_body("stalled", "look", 1))
            if fault.kind == "drop":
                self.close_connection = True
                return None
            if fault.kind == "not_json":
                return self._raw(200, b"<html>upstream proxy error</html>", "application/json")
            if fault.kind == "empty_choices":
                return self._json(200, {**completion_body("empty", "", 1), "choices": []})
            raise ValueError(f"unknown fault {fault.kind!r}")

        def _json(self, status: int, payload: Body, headers: dict[str, str] | None = None) -> None:
            self._raw(status, json.dumps(payload).encode(), "application/json", headers)

        def _raw(
            self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a stalled reply past its timeout)

    return Handler
