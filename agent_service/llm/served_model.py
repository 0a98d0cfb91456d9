"""Which model an OpenAI-compatible endpoint really serves, when it is a llama-server.

llama-server answers every request with the one model it loaded, whatever name the request
carries, so the name a trajectory records has to come from the server. Its `GET /props` gives
`model_alias` (what `python -m llm_service` passes as `--alias`: the catalog name) and
`model_path`; the service names the served file `<name>-<sha256>.gguf`, so the path also carries
the SHA-256 of the weights. Other servers (OpenAI, vLLM, a test's fake) have no `/props`, or one
without a model path: nothing is learned and the request keeps the model it named.

The server is asked once per episode (a local request of a few milliseconds, next to seconds per
step), not cached, so an `llm` restarted with another model is noticed at the next episode.

It is asked only after the egress policy admitted the endpoint (`served_model_resolver`, the
edge's call), through `transport.http_client`: http(s) only, no redirect followed (a 3xx says
nothing), at most 1 MiB read within the timeout, and a caller is told "not answering", never why
(refused, timed out, unknown name: a port scanner's answers). The reason goes to the log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from agent_service.episode import EpisodeRequest, PolicyKind
from agent_service.llm.egress import CheckedEndpoint, EgressPolicy, public_url, trusted_endpoint
from agent_service.llm.transport import RefusedByPolicy, ResponseTooLarge, http_client
from alfagent_common import errors

log = logging.getLogger(__name__)

_HASHED_FILE = re.compile(r"-(?P<sha256>[0-9a-f]{64})\.gguf$")
TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class ServedModel:
    name: str
    # SHA-256 of the served file, when its name carries it ("" otherwise).
    sha256: str
    path: str


def props_url(base_url: str) -> str:
    """`http://llm:8080/v1` → `http://llm:8080/props` (llama-server serves /props at its root)."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/props", "", ""))


def served_model_from_props(props: object) -> ServedModel | None:
    if not isinstance(props, dict):
        return None
    name, path = props.get("model_alias"), props.get("model_path")
    # A llama-server in router mode (several models) answers "none": no single model to name.
    if not isinstance(name, str) or not isinstance(path, str) or not name or path in ("", "none"):
        return None
    hashed = _HASHED_FILE.search(path)
    return ServedModel(name=name, sha256=hashed["sha256"] if hashed else "", path=path)


class EndpointUnreachable(Exception):
    """Nothing answered at the endpoint (refused, timed out, name unknown: which one is logged,
    not told)."""


async def describe_endpoint(
    endpoint: CheckedEndpoint | str, timeout_seconds: float = TIMEOUT_SECONDS, api_key: str = ""
) -> ServedModel | None:
    """What `endpoint` serves; None when it answers but does not say (no /props, a redirect, not
    JSON, too long). A plain URL is taken as the agent's own endpoint (for tests). `api_key` is
    sent when given (a llama-server started with an API key wants it for /props too)."""
    if isinstance(endpoint, str):
        endpoint = trusted_endpoint(endpoint)
    url = props_url(endpoint.base_url)
    headers = {"authorization": f"Bearer {api_key}"} if api_key else None
    try:
        async with http_client(endpoint, httpx2.Timeout(timeout_seconds)) as client:
            response = await client.get(url, headers=headers)
    except RefusedByPolicy as refused:  # the name resolves elsewhere since the edge's check
        raise errors.PermissionDenied(f"base_url {public_url(endpoint.base_url)!r} is {refused}") from None
    except ResponseTooLarge:
        return None
    except (httpx2.HTTPError, httpx2.InvalidURL) as error:
        log.info("LLM endpoint %s not answering: %r", public_url(url), error)
        raise EndpointUnreachable(public_url(endpoint.base_url)) from None
    if response.status_code != 200:
        return None
    try:
        return served_model_from_props(json.loads(response.content))
    except ValueError:  # not JSON
        return None


Describe = Callable[[CheckedEndpoint], Awaitable[ServedModel | None]]
Resolve = Callable[[EpisodeRequest], Coroutine[Any, Any, EpisodeRequest]]


def served_model_resolver(egress: EgressPolicy, describe: Describe = describe_endpoint) -> Resolve:
    """The edge's call for a request that runs LLM episodes: its endpoint checked by the egress
    policy (PermissionDenied / InvalidRequest before any connection), then asked which model it
    serves (`resolve_served_model`)."""

    async def resolve(request: EpisodeRequest) -> EpisodeRequest:
        if request.policy is not PolicyKind.LLM or not request.settings.base_url:
            return request
        endpoint = await egress.check(request.settings.base_url)
        return await resolve_served_model(request, describe, endpoint=endpoint)

    return resolve


async def resolve_served_model(
    request: EpisodeRequest,
    describe: Describe = describe_endpoint,
    *,
    endpoint: CheckedEndpoint | None = None,
) -> EpisodeRequest:
    """The request with the model its endpoint serves and that model's SHA-256, for LLM episodes.

    A request (or ALFAGENT_MODEL) naming another model than the one served is refused: the
    trajectory would otherwise name a model that never answered. When nothing answers, a request
    that names a model goes ahead (its calls are retried, then it ends LLM_ERROR and is stored);
    one that names none cannot say which model it meant and is refused as UNAVAILABLE.

    `endpoint` is the request's endpoint as the egress policy admitted it; without it (callers
    that do not check at the edge yet) the request's URL is taken as the agent's own.
    """
    settings = request.settings
    if request.policy is not PolicyKind.LLM or not settings.base_url:
        return request
    try:
        served = await describe(endpoint or trusted_endpoint(settings.base_url))
    except EndpointUnreachable:
        if settings.model:
            return request
        raise errors.Unavailable(
            f"the LLM endpoint {public_url(settings.base_url)} is not answering, so which model it "
            "serves is unknown: start the local model service (`make up`), or name a model and "
            "endpoint (ALFAGENT_MODEL, OPENAI_BASE_URL)"
        ) from None
    if served is None:
        return request
    if settings.model and settings.model != served.name:
        raise errors.InvalidRequest(
            f"{public_url(settings.base_url)} serves the model {served.name!r}, not {settings.model!r}: "
            "name that one, or leave `model` (and ALFAGENT_MODEL) empty to use it"
        )
    return replace(request, settings=replace(settings, model=served.name), model_sha256=served.sha256)
