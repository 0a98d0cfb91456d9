"""Which hosts the agent may call: the egress policy, checked once at the edge, before any call.

A request may name an LLM endpoint (`base_url`); the agent then makes HTTP calls to it. Without
a policy that is a server-side request forgery: any caller could have the agent fetch
`http://169.254.169.254/` (cloud metadata), `http://10.0.0.5:6379/` or `file:///etc/passwd`
and learn from the reply or from how it failed. The rules (OWASP's SSRF rules):

- **http and https only**, and no `user:password@` in a URL a request names.
- **Only endpoints the operator named.** The agent's own endpoint (OPENAI_BASE_URL, or the local
  `llm` service when that is unset) and those in ALFAGENT_ALLOWED_BASE_URLS (or paths below
  them, matched by scheme, host, port and path at a `/` boundary). Nothing else: with no
  allow-list, a request naming another `base_url` is refused (PERMISSION_DENIED). The local
  `llm` service is allowed because it is the configured endpoint, not by an exception here.
- Those endpoints are **trusted**: the operator named them, so they may sit on private or
  loopback addresses (`http://10.0.0.5:8000/v1`, `http://llm:8080/v1`); their addresses are not
  checked.
- ALFAGENT_ALLOWED_BASE_URLS may hold `*`: then a request may also name **any public endpoint**.
  Its host is resolved (getaddrinfo, every address) and refused if any address is not public:
  private, loopback, link-local (169.254.169.254 among them), unspecified, multicast, reserved,
  shared (100.64/10), documentation; for IPv6 also site-local, unique-local, and the IPv4 inside
  IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible, 6to4, NAT64 and Teredo addresses.
- **DNS rebinding**: a name that resolves to a public address when checked and to 127.0.0.1 when
  connected. `transport.GuardedTransport` resolves the host again for every request, checks every
  address and connects to the address it checked (the `Host` header and TLS name stay the
  host's), so a check and its connection use one resolution. Trusted endpoints are not pinned:
  their names are the operator's.

`EgressPolicy.check` is the edge's call (it raises PermissionDenied or InvalidRequest before any
connection); `EgressPolicy.endpoint` the same rules without resolving (for code past the edge).
Both return a `CheckedEndpoint`, which is what HTTP clients are built from
(`transport.http_client`). Refusals name the rule, never an address a name resolved to: the
policy must not answer questions about the network behind the agent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from alfagent_common import errors
from alfagent_common.settings import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) → the addresses the host resolves to, as text; raises OSError when it does not.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

ANY_PUBLIC = "*"
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOW_LIST_VARIABLE = "ALFAGENT_ALLOWED_BASE_URLS"
_NOT_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # IPv4-compatible (deprecated), :: and ::1 among them
        "fec0::/10",  # site-local (deprecated); Python counts it as global
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOST = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_.])?")


class EgressRefused(errors.PermissionDenied):
    """A URL this agent may not call; the message names the rule."""


@dataclass(frozen=True)
class CheckedEndpoint:
    """An endpoint the egress policy admitted. Only `EgressPolicy` makes these (and
    `trusted_endpoint`, for the agent's own endpoint)."""

    base_url: str
    scheme: str
    host: str
    port: int
    # Why it is admitted: "OPENAI_BASE_URL", "ALFAGENT_ALLOWED_BASE_URLS" or "ALFAGENT_ALLOWED_BASE_URLS=*".
    rule: str
    # Named by the operator: its addresses are not checked (it may be private or loopback).
    trusted: bool
    # For an untrusted endpoint: how its host is resolved and which addresses may be connected to,
    # again at every connection (transport.GuardedTransport).
    guard: AddressGuard | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """One string per endpoint, for pools and gates keyed by endpoint."""
        return self.base_url.rstrip("/")

    def same_origin(self, scheme: str, host: str, port: int | None) -> bool:
        """Whether a request goes to this endpoint's scheme, host and port (nowhere else)."""
        if port is None:
            port = DEFAULT_PORTS.get(scheme)
        return (scheme, host.lower(), port) == (self.scheme, self.host, self.port)


def public_url(base_url: str) -> str:
    """The endpoint without any user:password part or query, fit for messages and trajectories."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def is_public_address(address: IPAddress) -> bool:
    """Whether `address` is one on the public internet (see the module docstring's list)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if any(address in net for net in _NOT_PUBLIC_V6) or address.is_site_local:
            return False
        if not all(is_public_address(inner) for inner in _embedded_ipv4(address)):
            return False
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (6to4, NAT64, Teredo's client)."""
    inner = []
    if address.sixtofour is not None:
        inner.append(address.sixtofour)
    if address in _NAT64:
        inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.teredo is not None:
        inner.append(address.teredo[1])
    return inner


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address getaddrinfo gives for `host` (what a connection would try)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class AddressGuard:
    """Resolves a host and admits it only if every address it resolves to is allowed."""

    resolver: Resolver = system_resolver
    # What counts as public; tests stand in their own (e.g. "127.0.0.2 is public").
    address_allowed: Callable[[IPAddress], bool] = is_public_address

    async def addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses, all allowed, in the resolver's order; EgressRefused otherwise
        (also when it does not resolve: which names resolve is not ours to say)."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [str(literal)]
        else:
            try:
                found = list(dict.fromkeys(await self.resolver(host, port)))
            except (OSError, UnicodeError):
                found = []
        try:
            parsed = [ipaddress.ip_address(address.split("%", 1)[0]) for address in found]
        except ValueError:
            parsed = []
        if not parsed or not all(self.address_allowed(address) for address in parsed):
            raise EgressRefused(
                f"refused by the egress policy: {host!r} does not resolve to public addresses only "
                f"(name the endpoint in {ALLOW_LIST_VARIABLE} if the agent may call it)"
            )
        return [str(address) for address in parsed]


class EgressPolicy:
    """The rules of the module docstring, for one agent's configuration."""

    def __init__(
        self,
        configured_base_url: str,
        allowed_base_urls: Sequence[str] = (),
        *,
        resolver: Resolver = system_resolver,
        address_allowed: Callable[[IPAddress], bool] = is_public_address,
    ) -> None:
        self.configured_base_url = configured_base_url
        self.any_public = ANY_PUBLIC in allowed_base_urls
        self.allowed_base_urls = tuple(url for url in allowed_base_urls if url != ANY_PUBLIC)
        self.guard = AddressGuard(resolver, address_allowed)
        for url in (configured_base_url, *self.allowed_base_urls):
            if url and urlsplit(url).scheme.lower() not in SCHEMES:
                raise ConfigError(f"LLM endpoint {public_url(url)!r} must start with http:// or https://")

    def endpoint(self, base_url: str) -> CheckedEndpoint:
        """The rules without resolving: scheme, user info, configured or allow-listed. An
        endpoint admitted under `*` has its addresses checked at every connection."""
        parts = _parts(base_url)
        if self.configured_base_url and same_endpoint(base_url, self.configured_base_url):
            return CheckedEndpoint(base_url, *parts, rule="OPENAI_BASE_URL", trusted=True)
        if "@" in urlsplit(base_url).netloc:
            raise errors.InvalidRequest(
                f"base_url {public_url(base_url)!r} must not carry a user or password: the agent "
                "sends its own credentials to its configured endpoint only"
            )
        if any(endpoint_within(base_url, allowed) for allowed in self.allowed_base_urls):
            return CheckedEndpoint(base_url, *parts, rule=ALLOW_LIST_VARIABLE, trusted=True)
        if self.any_public:
            rule = f"{ALLOW_LIST_VARIABLE}={ANY_PUBLIC}"
            return CheckedEndpoint(base_url, *parts, rule=rule, trusted=False, guard=self.guard)
        raise EgressRefused(
            f"base_url {public_url(base_url)!r} is refused by the egress policy: {self._rule()}"
        )

    async def check(self, base_url: str) -> CheckedEndpoint:
        """The edge's check, before any connection: `endpoint`, and for an endpoint admitted as
        "any public endpoint", its host resolved and every address checked."""
        checked = self.endpoint(base_url)
        if checked.guard is not None:
            try:
                await checked.guard.addresses(checked.host, checked.port)
            except EgressRefused as refused:
                raise EgressRefused(f"base_url {public_url(base_url)!r} is {refused}") from None
        return checked

    def _rule(self) -> str:
        own = "the agent's own endpoint (OPENAI_BASE_URL; none is configured)"
        if self.configured_base_url:
            own = f"the agent's own endpoint {public_url(self.configured_base_url)} (OPENAI_BASE_URL)"
        if not self.allowed_base_urls:
            return (
                f"this agent calls only {own}; to let requests name other endpoints, list them in "
                f"{ALLOW_LIST_VARIABLE} (comma-separated base URLs, or {ANY_PUBLIC} for any endpoint on "
                "a public address)"
            )
        allowed = ", ".join(map(public_url, self.allowed_base_urls))
        return f"it is neither {own} nor in {ALLOW_LIST_VARIABLE} ({allowed}); add it there to allow it"


def trusted_endpoint(base_url: str) -> CheckedEndpoint:
    """The agent's own endpoint, admitted as the configuration names it (scheme still checked)."""
    return EgressPolicy(base_url).endpoint(base_url)


def _parts(base_url: str) -> tuple[str, str, int]:
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise errors.InvalidRequest(f"base_url {public_url(base_url)!r} must start with http:// or https://")
    try:
        port = _port(parts.port, scheme)
    except ValueError:
        raise errors.InvalidRequest(
            f"base_url {public_url(base_url)!r} has a port that is not a number"
        ) from None
    host = parts.hostname or ""
    if not _HOST.fullmatch(host) and not _is_address(host):
        # Letters, digits, '.', '-', '_' (an international name in its xn-- form), or an address:
        # what every HTTP library reads the same way.
        raise errors.InvalidRequest(f"base_url {public_url(base_url)!r} names no host, or not in ASCII")
    return scheme, host, port


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def endpoint_within(url: str, allowed: str) -> bool:
    """Whether `url` is `allowed` or below it: same scheme, host and port, and a path under its
    path at a `/` boundary (so `http://llm:8000` does not admit `http://llm:8000.evil.example`)."""
    a, b = urlsplit(url), urlsplit(allowed)
    try:
        ports = (_port(a.port, a.scheme.lower()), _port(b.port, b.scheme.lower()))
    except (ValueError, KeyError):  # a port that is not a number, a scheme that is not http(s)
        return False
    if (a.scheme.lower(), a.hostname, ports[0]) != (b.scheme.lower(), b.hostname, ports[1]):
        return False
    base = b.path.rstrip("/")
    return a.path.rstrip("/") == base or a.path.startswith(base + "/")


def _port(port: int | None, scheme: str) -> int:
    return DEFAULT_PORTS[scheme] if port is None else port


def same_endpoint(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()
