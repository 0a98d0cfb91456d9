"""Which LLM endpoints a request may name, and which of them get the API key.

The API key is only ever sent to the configured endpoint (`OPENAI_BASE_URL`, or OpenAI's own when
that is unset): a request naming another `base_url` is sent without it, so no caller can have the
key delivered to a server of their choosing. Which endpoints may be called at all is the egress
policy's (`egress.EgressPolicy`: the configured one, ALFAGENT_ALLOWED_BASE_URLS, nothing else);
`EndpointRules` applies its rules past the edge, without resolving names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent_service.llm.egress import CheckedEndpoint, EgressPolicy, endpoint_within, same_endpoint

__all__ = ["OPENAI_BASE_URL", "EndpointRules", "endpoint_within", "same_endpoint"]

OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class EndpointRules:
    # The agent's own endpoint (OPENAI_BASE_URL, or the local `llm` service); "" for none.
    default_base_url: str
    api_key: str = field(repr=False)
    allowed_base_urls: tuple[str, ...] = ()
    # The policy the rules come from; by default one made from the two fields above.
    egress: EgressPolicy | None = field(default=None, compare=False, repr=False)

    def policy(self) -> EgressPolicy:
        return self.egress or EgressPolicy(self.default_base_url, self.allowed_base_urls)

    def check(self, base_url: str) -> CheckedEndpoint:
        """InvalidRequest for a URL that is not http(s) or carries a password, PermissionDenied
        for one the egress policy does not allow."""
        return self.policy().endpoint(base_url)

    def key_for(self, base_url: str) -> str:
        """The API key for the configured endpoint; "" for any other."""
        keyed = self.default_base_url or OPENAI_BASE_URL
        return self.api_key if same_endpoint(base_url, keyed) else ""
