"""Which LLM endpoints a request may name, and which of them get the API key.

The API key is only ever sent to the configured endpoint (`OPENAI_BASE_URL`, or OpenAI's own when
that is unset): a request naming another `base_url` is sent without it, so no caller can have the
key delivered to a server of their choosing. With `allowed_base_urls` set
(ALFAGENT_ALLOWED_BASE_URLS), a request may name no endpoint but those and the configured one:
the agent then calls no server its callers choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from agent_service.llm.client import public_url
from alfagent_common import errors

OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class EndpointRules:
    # The agent's own endpoint (OPENAI_BASE_URL, or the local `llm` service); "" for none.
    default_base_url: str
    api_key: str
    allowed_base_urls: tuple[str, ...] = ()

    def check(self, base_url: str) -> None:
        """InvalidRequest for a URL that is not http(s), PermissionDenied for one not allowed."""
        if not base_url.startswith(("http://", "https://")):
            raise errors.InvalidRequest(
                f"base_url {public_url(base_url)!r} must start with http:// or https://"
            )
        if not self.may_call(base_url):
            raise errors.PermissionDenied(
                f"base_url {public_url(base_url)!r} is not an endpoint this agent may call; it allows "
                f"{', '.join(map(public_url, self.allowed_base_urls))} (ALFAGENT_ALLOWED_BASE_URLS) "
                "and OPENAI_BASE_URL"
            )

    def may_call(self, base_url: str) -> bool:
        if not self.allowed_base_urls or same_endpoint(base_url, self.default_base_url):
            return True
        return any(endpoint_within(base_url, allowed) for allowed in self.allowed_base_urls)

    def key_for(self, base_url: str) -> str:
        """The API key for the configured endpoint; "" for any other."""
        keyed = self.default_base_url or OPENAI_BASE_URL
        return self.api_key if same_endpoint(base_url, keyed) else ""


def endpoint_within(url: str, allowed: str) -> bool:
    """Whether `url` is `allowed` or below it: same scheme, host and port, and a path under its
    path at a `/` boundary (so `http://llm:8000` does not admit `http://llm:8000.evil.example`)."""
    a, b = urlsplit(url), urlsplit(allowed)
    default_ports = {"http": 80, "https": 443}
    try:
        ports = (a.port or default_ports.get(a.scheme.lower()), b.port or default_ports.get(b.scheme.lower()))
    except ValueError:  # a port that is not a number
        return False
    if (a.scheme.lower(), a.hostname, ports[0]) != (b.scheme.lower(), b.hostname, ports[1]):
        return False
    base = b.path.rstrip("/")
    return a.path.rstrip("/") == base or a.path.startswith(base + "/")


def same_endpoint(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()
