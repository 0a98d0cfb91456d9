"""Who is calling and what they may do: callers by bearer token, roles by method, and the rule that
keeps a service off the network without TLS and tokens. No grpc here (`auth.py` is the adapter).

The token file (`ALFAGENT_TOKENS`) names one caller a line, `TOKEN CALLER ROLES`, ROLES a comma
list of `read`, `run`, `write`, `admin`; `#` starts a comment. A call needs the role its method
names in `METHOD_ROLES` (`admin` may do everything); a method the table does not name needs
`admin`, so a new RPC is closed until someone decides who may call it. Health checks need nothing.
Tokens are compared in constant time and never logged: a `Caller` holds the name and roles only.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from alfagent_common.settings import ConfigError


class Role(StrEnum):
    READ = "read"
    RUN = "run"
    WRITE = "write"
    ADMIN = "admin"


# What each method needs. The store's writes are the agent's alone (`write`); the agent's RPCs and
# the env's sessions are `run`; everything that only reads is `read`.
METHOD_ROLES: Mapping[str, Role] = {
    "/alfagent.agent.v1.AgentService/RunEpisode": Role.RUN,
    "/alfagent.agent.v1.AgentService/StreamEpisode": Role.RUN,
    "/alfagent.agent.v1.AgentService/RunEvaluation": Role.RUN,
    "/alfagent.env.v1.EnvService/ListGames": Role.READ,
    "/alfagent.env.v1.EnvService/GetStats": Role.READ,
    "/alfagent.env.v1.EnvService/Reset": Role.RUN,
    "/alfagent.env.v1.EnvService/Step": Role.RUN,
    "/alfagent.env.v1.EnvService/Close": Role.RUN,
    "/alfagent.store.v1.StoreService/AppendTrajectory": Role.WRITE,
    "/alfagent.store.v1.StoreService/PutSkillLibrary": Role.WRITE,
    "/alfagent.store.v1.StoreService/GetTrajectory": Role.READ,
    "/alfagent.store.v1.StoreService/ListTrajectories": Role.READ,
    "/alfagent.store.v1.StoreService/GetStats": Role.READ,
    "/alfagent.store.v1.StoreService/GetSkillLibrary": Role.READ,
    "/alfagent.store.v1.StoreService/ListSkillLibraries": Role.READ,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Role.READ,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": Role.READ,
}
# Asked by orchestrators and probes, which hold no token.
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


def role_for(method: str) -> Role | None:
    """The role `method` needs; None for a method anyone may call."""
    if method.startswith(OPEN_PREFIXES):
        return None
    return METHOD_ROLES.get(method, Role.ADMIN)


def writes(method: str) -> bool:
    return METHOD_ROLES.get(method) is Role.WRITE


@dataclass(frozen=True)
class Caller:
    name: str
    roles: frozenset[Role]

    def may(self, role: Role) -> bool:
        return Role.ADMIN in self.roles or role in self.roles


# A caller in dev mode (loopback, no tokens configured): everything, as before identities existed.
DEV_CALLER = Caller("dev", frozenset(Role))


class TokenTable:
    """Callers by token, from the token file."""

    def __init__(self, entries: Iterable[tuple[str, Caller]]) -> None:
        # Keyed by the token's digest: a lookup compares digests in constant time, and the table
        # holds no token in the clear.
        self._callers: dict[bytes, Caller] = {}
        for token, caller in entries:
            digest = _digest(token)
            if digest in self._callers:
                raise ConfigError(f"ALFAGENT_TOKENS: two callers share one token ({caller.name})")
            self._callers[digest] = caller

    def __len__(self) -> int:
        return len(self._callers)

    def caller(self, token: str) -> Caller | None:
        digest = _digest(token)
        found = None
        for known, caller in self._callers.items():
            if hmac.compare_digest(known, digest):
                found = caller
        return found

    @classmethod
    def parse(cls, text: str, source: str = "ALFAGENT_TOKENS") -> TokenTable:
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) != 3:
                raise ConfigError(
                    f"{source} line {number}: expected TOKEN CALLER ROLES, found {len(fields)} fields"
                )
            token, name, roles = fields
            if len(token) < 16:
                raise ConfigError(
                    f"{source} line {number}: the token of {name} is shorter than 16 characters"
                )
            try:
                parsed = frozenset(Role(role) for role in roles.split(",") if role)
            except ValueError:
                known = ", ".join(role.value for role in Role)
                raise ConfigError(f"{source} line {number}: roles {roles!r} are not among {known}") from None
            entries.append((token, Caller(name, parsed)))
        return cls(entries)

    @classmethod
    def from_file(cls, path: Path) -> TokenTable:
        try:
            text = path.read_text()
        except OSError as error:
            raise ConfigError(f"ALFAGENT_TOKENS={path}: {error.strerror}") from None
        return cls.parse(text, f"ALFAGENT_TOKENS={path}")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_token(authorization: str) -> str:
    """The token of an `authorization: Bearer TOKEN` header ("" for anything else)."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps a service to this machine ("localhost", 127.0.0.0/8, ::1)."""
    host = host.strip().removeprefix("[").removesuffix("]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
