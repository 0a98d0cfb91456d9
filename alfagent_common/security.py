"""Each service's identity settings, read once at start-up, and the rule that keeps a service off
the network without them (as Redis's protected mode does). No grpc here (`auth.py` applies them).

    ALFAGENT_TLS_CERT, ALFAGENT_TLS_KEY   the service's PEM certificate and key: serve TLS
    ALFAGENT_TLS_CA                       CA bundle to verify peers (servers: client certificates;
                                          clients: the server's)
    ALFAGENT_TLS_CLIENT_AUTH=require      clients must present a certificate the CA signed
    ALFAGENT_TOKENS                       the token file (identity.py): every call needs a token,
                                          loopback included (health checks excepted)
    ALFAGENT_TOKEN                        what this service presents to those it calls
    ALFAGENT_INSECURE=1                   serve a non-loopback address without TLS and tokens,
                                          said loudly at every start

Modes, named in the `serving` log line: `dev` (loopback, nothing configured: plaintext calls
without a token, as `make up` and `make demo` run), `secured` (TLS and tokens), `tls` or `tokens`
(one of the two, on loopback or with ALFAGENT_INSECURE=1), `insecure` (non-loopback, neither,
ALFAGENT_INSECURE=1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alfagent_common.identity import TokenTable, is_loopback
from alfagent_common.settings import ConfigError


@dataclass(frozen=True)
class Security:
    tls_cert: bytes = field(default=b"", repr=False)
    tls_key: bytes = field(default=b"", repr=False)
    tls_ca: bytes = field(default=b"", repr=False)
    client_auth: bool = False
    tokens: TokenTable | None = field(default=None, repr=False)
    # Presented to the services this one calls; never logged.
    token: str = field(default="", repr=False)
    insecure: bool = False

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    def mode(self) -> str:
        if self.tls and self.tokens is not None:
            return "secured"
        if self.tls:
            return "tls"
        if self.tokens is not None:
            return "tokens"
        return "insecure" if self.insecure else "dev"

    def check_bind(self, host: str) -> str:
        """The mode serving `host` runs in; ConfigError when a non-loopback address would be served
        without TLS and tokens and ALFAGENT_INSECURE=1 does not say so."""
        if is_loopback(host) or (self.tls and self.tokens is not None) or self.insecure:
            return self.mode()
        missing = " and ".join(
            name
            for name, present in (
                ("TLS (ALFAGENT_TLS_CERT, ALFAGENT_TLS_KEY)", self.tls),
                ("tokens (ALFAGENT_TOKENS)", self.tokens),
            )
            if not present
        )
        raise ConfigError(
            f"HOST={host} is reachable from other machines, and this service has no {missing}: "
            "anyone who reaches it could call it. Bind a loopback address (HOST=127.0.0.1), configure "
            "them, or set ALFAGENT_INSECURE=1 to serve it open anyway"
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Security:
        cert, key = _read(environ, "ALFAGENT_TLS_CERT"), _read(environ, "ALFAGENT_TLS_KEY")
        if bool(cert) != bool(key):
            raise ConfigError("ALFAGENT_TLS_CERT and ALFAGENT_TLS_KEY go together: set both or neither")
        client_auth = environ.get("ALFAGENT_TLS_CLIENT_AUTH", "").strip()
        if client_auth not in ("", "require", "none"):
            raise ConfigError(f"ALFAGENT_TLS_CLIENT_AUTH={client_auth!r} must be require or none")
        ca = _read(environ, "ALFAGENT_TLS_CA")
        if client_auth == "require" and not (cert and ca):
            raise ConfigError(
                "ALFAGENT_TLS_CLIENT_AUTH=require needs ALFAGENT_TLS_CERT, ALFAGENT_TLS_KEY and "
                "ALFAGENT_TLS_CA"
            )
        tokens_path = environ.get("ALFAGENT_TOKENS", "").strip()
        tokens = TokenTable.from_file(Path(tokens_path)) if tokens_path else None
        if tokens is not None and not len(tokens):
            raise ConfigError(f"ALFAGENT_TOKENS={tokens_path} names no caller")
        insecure = environ.get("ALFAGENT_INSECURE", "").strip()
        if insecure not in ("", "0", "1"):
            raise ConfigError(f"ALFAGENT_INSECURE={insecure!r} must be 1 (or 0)")
        return cls(
            tls_cert=cert,
            tls_key=key,
            tls_ca=ca,
            client_auth=client_auth == "require",
            tokens=tokens,
            token=_token(environ),
            insecure=insecure == "1",
        )


def _read(environ: Mapping[str, str], name: str) -> bytes:
    path = environ.get(name, "").strip()
    if not path:
        return b""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"{name}={path}: {error.strerror}") from None


def _token(environ: Mapping[str, str]) -> str:
    """ALFAGENT_TOKEN: the token itself, or `@FILE` for a file holding it (a mounted Secret)."""
    value = environ.get("ALFAGENT_TOKEN", "").strip()
    if value.startswith("@"):
        try:
            value = Path(value[1:]).read_text().strip()
        except OSError as error:
            raise ConfigError(f"ALFAGENT_TOKEN={value}: {error.strerror}") from None
    return value
