"""The agent's side of the local model: its default endpoint, and learning what a server serves."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent_service.config import AgentConfig
from agent_service.episode import EpisodeRequest, PolicyKind
from agent_service.llm.egress import CheckedEndpoint
from agent_service.llm.served_model import (
    EndpointUnreachable,
    ServedModel,
    describe_endpoint,
    props_url,
    resolve_served_model,
    served_model_from_props,
)
from agent_service.settings import EpisodeSettings
from alfagent_common import errors
from alfagent_common.settings import ConfigError

SHA = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
PATH = f"/cache/models/{NAME}-{SHA}.gguf"
PROPS = {"model_alias": NAME, "model_path": PATH, "total_slots": 2}


def test_the_agent_uses_the_local_model_service_when_no_endpoint_is_set() -> None:
    assert AgentConfig.from_environ({}).openai_base_url == "http://localhost:8080/v1"
    assert AgentConfig.from_environ({"LLM_ADDR": "llm:8080"}).openai_base_url == "http://llm:8080/v1"
    named = {"LLM_ADDR": "llm:8080", "OPENAI_BASE_URL": "https://api.example.com/v1"}
    assert AgentConfig.from_environ(named).openai_base_url == "https://api.example.com/v1"
    with pytest.raises(ConfigError, match="LLM_ADDR"):
        AgentConfig.from_environ({"LLM_ADDR": "http://llm:8080/v1"})


def test_props_url_is_at_the_server_root() -> None:
    assert props_url("http://llm:8080/v1") == "http://llm:8080/props"
    assert props_url("http://llm:8080/v1/") == "http://llm:8080/props"
    assert props_url("http://proxy/llama/v1") == "http://proxy/llama/props"


def test_the_hash_comes_from_the_served_file_name() -> None:
    assert served_model_from_props(PROPS) == ServedModel(NAME, SHA, PATH)
    other_file = {**PROPS, "model_path": "/models/mine.gguf"}
    assert served_model_from_props(other_file) == ServedModel(NAME, "", "/models/mine.gguf")
    # llama-server in router mode serves several models: no single one to name.
    assert served_model_from_props({"model_alias": "llama-server", "model_path": "none"}) is None
    assert served_model_from_props(["not", "props"]) is None


def llm_request(model: str = "") -> EpisodeRequest:
    return EpisodeRequest(
        policy=PolicyKind.LLM, settings=EpisodeSettings(base_url="http://llm:8080/v1", model=model)
    )


def resolve(request: EpisodeRequest, answer: ServedModel | Exception | None) -> EpisodeRequest:
    async def describe(endpoint: CheckedEndpoint) -> ServedModel | None:
        if isinstance(answer, Exception):
            raise answer
        return answer

    return asyncio.run(resolve_served_model(request, describe))


def test_an_episode_takes_the_served_model_and_its_hash() -> None:
    served = ServedModel(NAME, SHA, "x")
    resolved = resolve(llm_request(), served)
    assert (resolved.settings.model, resolved.model_sha256) == (NAME, SHA)
    assert resolve(llm_request(model=NAME), served).model_sha256 == SHA
    # A request naming another model would be answered by this one anyway: refused, not mislabelled.
    with pytest.raises(errors.InvalidRequest, match="serves the model"):
        resolve(llm_request(model="gpt-4o"), served)
    # Endpoints that do not say (OpenAI, vLLM) leave the request as it was.
    assert resolve(llm_request(model="gpt-4o"), None) == llm_request(model="gpt-4o")
    expert = EpisodeRequest(policy=PolicyKind.EXPERT)
    assert resolve(expert, RuntimeError("must not be asked")) == expert


def test_an_endpoint_that_does_not_answer() -> None:
    down = EndpointUnreachable("http://llm:8080/props: connection refused")
    # With a model named, the episode goes ahead (and ends LLM_ERROR if the calls fail too).
    assert resolve(llm_request(model=NAME), down) == llm_request(model=NAME)
    with pytest.raises(errors.Unavailable, match="make up"):
        resolve(llm_request(), down)


class _Props(BaseHTTPRequestHandler):
    body: object = PROPS

    def do_GET(self) -> None:
        if self.path != "/props":
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(self.body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def props_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Props)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_describe_endpoint_over_http(props_server: str) -> None:
    assert asyncio.run(describe_endpoint(f"{props_server}/v1")) == ServedModel(NAME, SHA, PATH)
    # Answers, but without /props there: nothing learned.
    assert asyncio.run(describe_endpoint(f"{props_server}/elsewhere/v1")) is None


def test_describe_endpoint_when_nothing_listens() -> None:
    with pytest.raises(EndpointUnreachable):
        asyncio.run(describe_endpoint("http://127.0.0.1:9/v1", timeout_seconds=2))
