"""Which model an OpenAI-compatible endpoint really serves, when it is a llama-server.

llama-server answers every request with the one model it loaded, whatever name the request
carries, so the name a trajectory records has to come from the server. Its `GET /props` gives
`model_alias` (what `python -m llm_service` passes as `--alias`: the catalog name) and
`model_path`; the service names the served file `<name>-<sha256>.gguf`, so the path also carries
the SHA-256 of the weights. Other servers (OpenAI, vLLM, a test's fake) have no `/props`, or one
without a model path: nothing is learned and the request keeps the model it named.

The server is asked once per episode (a local request of a few milliseconds, next to seconds per
step), not cached, so an `llm` restarted with another model is noticed at the next episode.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from agent_service.episode import EpisodeRequest, PolicyKind
from agent_service.llm.client import public_url
from alfagent_common import errors

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


def _get_props(url: str, timeout_seconds: float) -> object:
    with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
        return json.loads(response.read())


class EndpointUnreachable(Exception):
    """Nothing answered at the endpoint (refused, timed out, name unknown)."""


async def describe_endpoint(base_url: str, timeout_seconds: float = TIMEOUT_SECONDS) -> ServedModel | None:
    """What `base_url` serves; None when it answers but does not say (no /props, not JSON)."""
    url = props_url(base_url)
    try:
        props = await asyncio.to_thread(_get_props, url, timeout_seconds)
    except urllib.error.HTTPError:
        return None
    except ValueError:  # not JSON
        return None
    except (urllib.error.URLError, OSError) as error:
        raise EndpointUnreachable(f"{public_url(url)}: {getattr(error, 'reason', error)}") from None
    return served_model_from_props(props)


Describe = Callable[[str], Awaitable[ServedModel | None]]


async def resolve_served_model(
    request: EpisodeRequest, describe: Describe = describe_endpoint
) -> EpisodeRequest:
    """The request with the model its endpoint serves and that model's SHA-256, for LLM episodes.

    A request (or ALFAGENT_MODEL) naming another model than the one served is refused: the
    trajectory would otherwise name a model that never answered. When nothing answers, a request
    that names a model goes ahead (its calls are retried, then it ends LLM_ERROR and is stored);
    one that names none cannot say which model it meant and is refused as UNAVAILABLE.
    """
    settings = request.settings
    if request.policy is not PolicyKind.LLM or not settings.base_url:
        return request
    try:
        served = await describe(settings.base_url)
    except EndpointUnreachable as error:
        if settings.model:
            return request
        raise errors.Unavailable(
            f"the LLM endpoint is not answering ({error}), so which model it serves is unknown: start "
            "the local model service (`make up`), or name a model and endpoint (ALFAGENT_MODEL, "
            "OPENAI_BASE_URL)"
        ) from None
    if served is None:
        return request
    if settings.model and settings.model != served.name:
        raise errors.InvalidRequest(
            f"{public_url(settings.base_url)} serves the model {served.name!r}, not {settings.model!r}: "
            "name that one, or leave `model` (and ALFAGENT_MODEL) empty to use it"
        )
    return replace(request, settings=replace(settings, model=served.name), model_sha256=served.sha256)
