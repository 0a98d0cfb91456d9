"""Where sessions go: one address, several env replicas, or a DNS name whose addresses are replicas.

The address takes the agent's ENV_ADDR forms: `host:port[,host:port…]` or `dns:///name:port`.
Point it at the agent (`localhost:50051`: the agent places sessions over the replicas it knows)
or at the env replicas themselves; then this client places each new session on the replica where
it holds the fewest, tries the next on RESOURCE_EXHAUSTED or UNAVAILABLE, and sends every call of
a session to the replica that reset it (a session lives in one env process).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from alfagent.env.v1 import env_pb2_grpc

Result = TypeVar("Result")

DNS_SCHEME = "dns:///"
# Observations and admissible-command lists can be large.
_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024), ("grpc.enable_retries", 0)]
_TRY_ELSEWHERE = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE}


def resolve(address: str) -> list[str]:
    """The replicas an address names now."""
    address = address.strip()
    if address.startswith(DNS_SCHEME):
        name, _, port = address[len(DNS_SCHEME) :].rpartition(":")
        if not name or not port.isdigit():
            raise ValueError(f"{address!r} is not dns:///name:port")
        infos = socket.getaddrinfo(name, int(port), type=socket.SOCK_STREAM)
        hosts = sorted({str(info[4][0]) for info in infos})
        return [f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in hosts]
    replicas = list(dict.fromkeys(a.strip() for a in address.split(",") if a.strip()))
    if not replicas:
        raise ValueError("no address given: host:port[,host:port…] or dns:///name:port")
    return replicas


class _Token(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]  # grpc-stubs: generic in name only
    """Sends `authorization: Bearer TOKEN` with every call (a stack started with ALFAGENT_TOKENS)."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), self._header]
        return continuation(details._replace(metadata=metadata), request)


def open_channel(replica: str, token: str, ca: bytes) -> grpc.Channel:
    """TLS when a CA is given (the stack's, e.g. compose's .secrets/ca.pem), the token when one is."""
    if ca:
        channel = grpc.secure_channel(
            replica, grpc.ssl_channel_credentials(root_certificates=ca), options=_OPTIONS
        )
    else:
        channel = grpc.insecure_channel(replica, options=_OPTIONS)
    return grpc.intercept_channel(channel, _Token(token)) if token else channel


class Replicas:
    def __init__(self, address: str, *, token: str | None = None, ca: str | None = None) -> None:
        """`token` and `ca` (a CA certificate file) default to ALFAGENT_TOKEN and ALFAGENT_TLS_CA."""
        self.address = address
        self._token = os.environ.get("ALFAGENT_TOKEN", "") if token is None else token
        ca_path = os.environ.get("ALFAGENT_TLS_CA", "") if ca is None else ca
        self._ca = Path(ca_path).read_bytes() if ca_path else b""
        self._channels: dict[str, grpc.Channel] = {}
        self._held: dict[str, int] = {}
        self._down: set[str] = set()
        self._turn = 0
        self.refresh()

    def refresh(self) -> None:
        """Resolves the address again (a DNS name gains and loses replicas as they scale)."""
        for replica in resolve(self.address):
            self._held.setdefault(replica, 0)
        self._down.clear()

    def stub(self, replica: str) -> env_pb2_grpc.EnvServiceStub:
        channel = self._channels.get(replica)
        if channel is None:
            channel = open_channel(replica, self._token, self._ca)
            self._channels[replica] = channel
        return env_pb2_grpc.EnvServiceStub(channel)

    def order(self) -> list[str]:
        """Replicas to try for a new session: reachable first, then fewest sessions held here."""
        names = list(self._held)
        self._turn = (self._turn + 1) % len(names)
        rotated = names[self._turn :] + names[: self._turn]
        return sorted(rotated, key=lambda r: (r in self._down, self._held[r]))

    def place(self, reset: Callable[[str], Result]) -> tuple[str, Result]:
        """`reset` on the best replica, the next one on RESOURCE_EXHAUSTED or UNAVAILABLE."""
        last: grpc.RpcError | None = None
        for replica in self.order():
            try:
                result = reset(replica)
            except grpc.RpcError as error:
                if error.code() not in _TRY_ELSEWHERE:
                    raise
                if error.code() == grpc.StatusCode.UNAVAILABLE:
                    self._down.add(replica)
                last = error
                continue
            self._held[replica] += 1
            return replica, result
        assert last is not None
        raise last

    def held(self, replica: str) -> None:
        """A session was (or is being) opened on `replica` without `place`."""
        self._held[replica] = self._held.get(replica, 0) + 1

    def released(self, replica: str) -> None:
        if replica in self._held:
            self._held[replica] = max(0, self._held[replica] - 1)

    def lost(self, replica: str) -> None:
        self._down.add(replica)

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
