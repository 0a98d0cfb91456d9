"""A real HTTP server speaking the OpenAI chat-completions protocol, for tests and benchmarks.

It runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) in a daemon thread, so the
agent's real `openai` client talks to it over real sockets. Replies come from a queue of scripted
items, then from an optional `responder` (a function of the request body), then "look". An item is
either the text of a completion or a `Fault`:

    with FakeOpenAI(api_key="sk-test") as server:
        server.script("think: find the pencil", "go to desk 1", Fault.rate_limit(0.1), "look")
        ... base_url=server.base_url ...
        server.requests  # every request received, in order

Usage is counted as characters / 4 of the prompt and of the reply, so it is deterministic.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
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


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


@dataclass
class FakeOpenAI:
    api_key: str = "sk-fake-test-key"
    # Added to every completion (the benchmark's LLM latency).
    delay_seconds: float = 0.0
    responder: Responder | None = None
    default_reply: str = "look"
    requests: list[ReceivedRequest] = field(default_factory=list)
    _queue: deque[Reply] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
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

    def start(self) -> FakeOpenAI:
        server = _Server(("127.0.0.1", 0), _handler_for(self))
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops connection attempts when many episodes start at once, and a
    # dropped SYN costs the client a 1 s retransmission.
    request_queue_size = 256


def completion_body(model: str, text: str, prompt_tokens: int) -> Body:
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

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body: Body = json.loads(self.rfile.read(length) or b"{}")
            authorization = self.headers.get("authorization", "")
            with fake._lock:
                fake.requests.append(ReceivedRequest(self.path, body, authorization))
            if not self.path.endswith("/chat/completions"):
                return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            if authorization != f"Bearer {fake.api_key}":
                # Like the real API, quote the start of the key it was given.
                given = authorization.removeprefix("Bearer ")
                message = f"Incorrect API key provided: {given}. You can find your API key elsewhere."
                return self._json(401, {"error": {"message": message, "type": "invalid_request_error"}})
            reply = fake.next_reply(body)
            if fake.delay_seconds:
                time.sleep(fake.delay_seconds)
            if isinstance(reply, Fault):
                return self._fault(reply)
            prompt = "".join(str(m.get("content", "")) for m in body.get("messages", []))
            self._json(200, completion_body(str(body.get("model", "")), reply, estimate_tokens(prompt)))

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
