"""A real HTTP server that misbehaves on purpose, and records every connection it gets.

    with HostileServer("endless") as server:
        ... f"{server.url}/v1" ...
        server.connections  # how many TCP connections arrived (0: the agent never connected)

Behaviours (`mode`):
- `ok`: 200 with `body` (JSON of a one-line chat completion by default);
- `redirect`: 302 to `location` (every path);
- `endless`: 200 without a length, then 64 KiB chunks until the client goes away;
- `drip`: 200 with a Content-Length of 1000, then one byte every `interval` seconds;
- `drip_headers`: the status line, then header bytes one every `interval` seconds;
- `huge_length`: 200 announcing a 100 MiB body (then sends a little of it);
- `gzip`: 200 with `Content-Encoding: gzip`.
It binds `host` (127.0.0.1 by default; any 127.x address works on Linux) on `port` (0: a free one).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field

COMPLETION = {
    "id": "x",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "look"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class HostileServer:
    mode: str
    host: str = "127.0.0.1"
    port: int = 0
    location: str = ""
    interval: float = 0.2
    body: bytes = field(default_factory=lambda: json.dumps(COMPLETION).encode())
    connections: int = 0
    requests: list[Received] = field(default_factory=list)
    # Body bytes written, over all requests.
    sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: socketserver.ThreadingTCPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def bound_port(self) -> int:
        assert self._server is not None, "start the server first"
        return int(self._server.server_address[1])

    def __enter__(self) -> HostileServer:
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with server._lock:
                    server.connections += 1
                with contextlib.suppress(OSError):  # the client went away, as it should
                    server._serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = connection.recv(65536)
            if not chunk:
                return
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
        }
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = connection.recv(65536)
            if not chunk:
                break
            rest += chunk
        with self._lock:
            self.requests.append(Received(method, path, headers))
        getattr(self, f"_{self.mode}")(connection)

    def _send(self, connection: socket.socket, data: bytes, body: bool = True) -> None:
        connection.sendall(data)
        if body:
            with self._lock:
                self.sent += len(data)

    def _ok(self, connection: socket.socket) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(self.body)}\r\n"
        self._send(connection, (head + "Connection: close\r\n\r\n").encode(), body=False)
        self._send(connection, self.body)

    def _redirect(self, connection: socket.socket) -> None:
        head = f"HTTP/1.1 302 Found\r\nLocation: {self.location}\r\n"
        head += "Content-Length: 0\r\nConnection: close\r\n\r\n"
        self._send(connection, head.encode(), body=False)

    def _endless(self, connection: socket.socket) -> None:
        self._send(
            connection,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
            False,
        )
        chunk = b'{"a": "' + b"x" * 65536
        while True:
            self._send(connection, chunk)

    def _drip(self, connection: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        self._send(connection, head, body=False)
        for _ in range(1000):
            self._send(connection, b" ")
            time.sleep(self.interval)

    def _drip_headers(self, connection: socket.socket) -> None:
        self._send(connection, b"HTTP/1.1 200 OK\r\n", body=False)
        for _ in range(1000):
            self._send(connection, b"X", body=False)
            time.sleep(self.interval)

    def _huge_length(self, connection: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
        self._send(connection, head, body=False)
        self._send(connection, b"x" * 65536)
        time.sleep(5)

    def _gzip(self, connection: socket.socket) -> None:
        data = gzip.compress(self.body)
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        self._send(connection, head.encode(), body=False)
        self._send(connection, data)
