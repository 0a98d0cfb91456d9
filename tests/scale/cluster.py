"""Several env replicas, one store and one agent, as real processes on free ports.

What `docker compose up --scale env=N` or a Kubernetes Deployment gives, on one machine: each env
replica is its own `python -m env_service` with its own port and workers, and the agent is told
about all of them through ENV_ADDR.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from launcher.processes import ServiceProcess, start_service
from tests.conftest import scrubbed_environ


@dataclass
class Cluster:
    root: Path
    base: dict[str, str]
    envs: list[ServiceProcess]
    store: ServiceProcess
    agents: list[ServiceProcess] = field(default_factory=list)

    @property
    def env_addr(self) -> str:
        return ",".join(env.address for env in self.envs)

    def start_env(self, name: str, port: int = 0, **settings: str) -> ServiceProcess:
        env = start_service(
            "env_service", port=port, log_path=self.root / f"{name}.log", environ={**self.base, **settings}
        )
        env.wait_serving()
        return env

    def start_agent(self, env_addr: str, name: str = "agent", **settings: str) -> ServiceProcess:
        agent = start_service(
            "agent_service",
            port=0,
            log_path=self.root / f"{name}.log",
            environ={**self.base, "ENV_ADDR": env_addr, "STORE_ADDR": self.store.address, **settings},
        )
        self.agents.append(agent)
        agent.wait_serving()
        return agent

    def stop(self) -> None:
        for service in [*self.agents, *self.envs, self.store]:
            service.stop()


@contextmanager
def cluster(root: Path, replicas: int, *, env_settings: Mapping[str, str] | None = None) -> Iterator[Cluster]:
    """`replicas` env processes (ENV_WORKERS=1 each unless `env_settings` says otherwise) and a
    store; agents are started by the test with the ENV_ADDR it wants."""
    base = scrubbed_environ(ENV_WORKERS="1", ENV_CATALOG_CACHE=str(root / "catalog.json"))
    base.update(env_settings or {})
    store = start_service(
        "store_service",
        port=0,
        log_path=root / "store.log",
        environ={**base, "STORE_DIR": str(root / "store")},
    )
    made = Cluster(root, base, [], store)
    try:
        store.wait_serving()
        # The first replica writes the catalog cache the others then read.
        made.envs.append(made.start_env("env-0"))
        for index in range(1, replicas):
            made.envs.append(
                start_service("env_service", port=0, log_path=root / f"env-{index}.log", environ=base)
            )
        for env in made.envs[1:]:
            env.wait_serving()
        yield made
    finally:
        made.stop()
