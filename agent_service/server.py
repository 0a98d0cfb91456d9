"""Wires agent_service together: config → env and store clients → episode runner → gRPC server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc

from agent_service.config import AgentConfig
from agent_service.env_forwarding import EnvForwardingHandler
from agent_service.env_replicas import EnvReplicas, ReplicatedEnvClient
from agent_service.episode import EpisodeRequest, PolicyKind
from agent_service.evaluation import Evaluator
from agent_service.forwarding import ForwardingHandler
from agent_service.gateways import RemoteEnv, RemoteStore
from agent_service.llm.client import Timeouts
from agent_service.llm.egress import CheckedEndpoint, EgressPolicy
from agent_service.llm.endpoints import EndpointRules
from agent_service.llm.fewshot import FewShotLibrary
from agent_service.llm.policy import LLMPolicies
from agent_service.llm.retries import RetrySettings
from agent_service.llm.served_model import ServedModel, describe_endpoint, served_model_resolver
from agent_service.metrics import AgentMetrics
from agent_service.policies import ExpertPolicy, Policy, RandomPolicy
from agent_service.quotas import Quotas
from agent_service.replicas import parse_env_addr
from agent_service.runner import EnvGateway, EpisodeRunner, PolicyFactory
from agent_service.servicer import AgentServicer
from agent_service.skill_libraries import SkillLibraries
from alfagent.agent.v1 import agent_pb2, agent_pb2_grpc
from alfagent.env.v1 import env_pb2
from alfagent.store.v1 import store_pb2
from alfagent_clients.store import StoreClient
from alfagent_common import auth, errors, startup
from alfagent_common.dependencies import watch_dependencies
from alfagent_common.grpc_errors import with_domain_errors
from alfagent_common.metrics import MetricsServer, new_registry
from alfagent_common.server import CHANNEL_OPTIONS, serve

SERVICE = agent_pb2.DESCRIPTOR.services_by_name["AgentService"]
SERVICE_NAME = SERVICE.full_name
# Forwarded through the agent's port as well (see agent_service/forwarding.py).
ENV_SERVICE = env_pb2.DESCRIPTOR.services_by_name["EnvService"]
STORE_SERVICE = store_pb2.DESCRIPTOR.services_by_name["StoreService"]


def make_egress(config: AgentConfig) -> EgressPolicy:
    """Which endpoints the agent may call: its own, and those ALFAGENT_ALLOWED_BASE_URLS lists."""
    return EgressPolicy(config.openai_base_url, config.allowed_base_urls)


def make_llm_policies(
    config: AgentConfig, env: EnvGateway, egress: EgressPolicy | None = None
) -> LLMPolicies:
    """The LLM policy's shared parts; it builds its few-shot examples through `env`."""
    return LLMPolicies(
        library=FewShotLibrary(env),
        default_base_url=config.openai_base_url,
        api_key=config.openai_api_key,
        timeouts=Timeouts(config.llm_timeout_seconds, config.llm_connect_timeout_seconds),
        retry=RetrySettings(
            max_attempts=config.llm_max_attempts, max_wait_seconds=config.llm_max_wait_seconds
        ),
        context_tokens=config.context_tokens,
        allowed_base_urls=config.allowed_base_urls,
        concurrency=config.llm_concurrency,
        stop=config.llm_stop,
        egress=egress or make_egress(config),
        clients=config.llm_clients,
    )


def make_policy_factory(config: AgentConfig, env: EnvGateway | None = None) -> PolicyFactory:
    """EXPERT, RANDOM, or LLM (only with an env to build its examples through)."""
    return policy_factory(make_llm_policies(config, env) if env is not None else None)


def policy_factory(llm: LLMPolicies | None) -> PolicyFactory:

    def make_policy(request: EpisodeRequest) -> Policy:
        if request.policy is PolicyKind.EXPERT:
            return ExpertPolicy()
        if request.policy is PolicyKind.RANDOM:
            return RandomPolicy(request.settings.seed)
        if llm is None:
            raise errors.InvalidRequest("the LLM policy is unavailable: no env to build its examples with")
        return llm(request)

    return make_policy


async def run(config: AgentConfig) -> None:
    # ENV_ADDR names one env replica or several; each session is pinned to the one that reset it.
    # Env and store are called with TLS (when ALFAGENT_TLS_CA is set) and the agent's token.
    def connect(address: str) -> grpc.aio.Channel:
        return auth.channel(address, config.security, CHANNEL_OPTIONS)

    env_replicas = EnvReplicas(parse_env_addr(config.env_addr), connect=connect)
    store_channel = connect(config.store_addr)
    env = RemoteEnv(ReplicatedEnvClient(env_replicas))
    store = RemoteStore(StoreClient(store_channel))
    egress = make_egress(config)
    llm = make_llm_policies(config, env, egress)
    libraries = SkillLibraries(store.skill_library)
    # The endpoint checked by the egress policy before any connection, then asked what it serves.
    keys = EndpointRules(config.openai_base_url, config.openai_api_key, config.allowed_base_urls)

    async def describe(endpoint: CheckedEndpoint) -> ServedModel | None:
        # The key goes to the configured endpoint only, as for completions.
        return await describe_endpoint(endpoint, api_key=keys.key_for(endpoint.base_url))

    check_endpoint = served_model_resolver(egress, describe)

    async def resolve(request: EpisodeRequest) -> EpisodeRequest:
        # The endpoint first (refused before anything is fetched), then the skill library.
        return await libraries.attach(await check_endpoint(request))

    metrics = AgentMetrics(new_registry())
    runner = EpisodeRunner(env, store, policy_factory(llm), metrics)
    evaluator = Evaluator(runner, env, store, max_concurrency=config.max_concurrency)

    async def start() -> None:
        # SERVING should mean an episode can run: wait until both dependencies are reachable.
        # (env: at least one replica serving.)
        await asyncio.gather(env_replicas.wait_ready(), store_channel.channel_ready())
        env_replicas.start()

    async def watch(report: Callable[[bool], Awaitable[None]]) -> None:
        # NOT_SERVING while env or store is down (episodes would only fail), SERVING once back.
        await watch_dependencies({"env": env_replicas.is_serving, "store": store_channel}, report)

    async def stop() -> None:
        await llm.close()
        await env_replicas.close()
        await store_channel.close(grace=None)

    def register(server: grpc.aio.Server) -> None:
        servicer = AgentServicer(
            runner,
            evaluator,
            config.episode_defaults(),
            resolve=resolve,
            quotas=Quotas(config.quotas),
            metrics=metrics,
        )
        agent_pb2_grpc.add_AgentServiceServicer_to_server(with_domain_errors(servicer, SERVICE), server)
        server.add_generic_rpc_handlers(
            [EnvForwardingHandler(env_replicas), ForwardingHandler(STORE_SERVICE, store_channel)]
        )

    await serve(
        port=config.port,
        host=config.host,
        service_names=[SERVICE_NAME, ENV_SERVICE.full_name, STORE_SERVICE.full_name],
        register=register,
        start=start,
        stop=stop,
        watch=watch,
        metrics=MetricsServer(metrics.registry, port=config.metrics_port, host=config.host),
        security=config.security,
    )


def main() -> None:
    startup.serve("agent_service", AgentConfig.from_environ, run)
