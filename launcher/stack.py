"""The services started together, wired to each other, as `make up` and the tests run them.

The local model service `llm` is optional (`llm_port`): most tests need no model, and starting it
costs a hash of the model file and a model load.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from launcher.llm import start_llm
from launcher.processes import ServiceProcess, start_service

# Variables that would point a service somewhere other than where the stack wires it (one
# METRICS_PORT for all three would make them collide).
_WIRING_VARIABLES = ("PORT", "METRICS_PORT", "ENV_ADDR", "STORE_ADDR", "STORE_DIR")


@dataclass
class Stack:
    env: ServiceProcess
    store: ServiceProcess
    agent: ServiceProcess
    llm: ServiceProcess | None = None

    @property
    def services(self) -> list[ServiceProcess]:
        return [self.agent, self.env, self.store, *([self.llm] if self.llm else [])]

    def stop(self) -> None:
        # The agent first, so no episode is left half-recorded by a vanished store.
        for service in self.services:
            service.stop()


def start_stack(
    *,
    run_dir: Path,
    store_dir: Path,
    ports: tuple[int, int, int] = (0, 0, 0),
    environ: Mapping[str, str] | None = None,
    llm_port: int | None = None,
    metrics_ports: tuple[int, int, int] | None = None,
) -> Stack:
    """Starts agent, env and store on (agent, env, store) ports; 0 lets the OS pick.

    Their Prometheus metrics go to `metrics_ports` (agent, env, store; 0: none); without them, a
    service on a fixed port serves its metrics on its default port (9451, 9452, 9453) and one on
    a port the OS picks serves none (`launcher.processes.start_service`).

    With `llm_port` (0: a free one) the local model service starts too, first, since it takes
    longest to be ready, and the agent is pointed at it (LLM_ADDR).
    """
    base = {
        k: v for k, v in (os.environ if environ is None else environ).items() if k not in _WIRING_VARIABLES
    }
    agent_port, env_port, store_port = ports
    agent_metrics, env_metrics, store_metrics = metrics_ports or (None, None, None)
    llm = None
    if llm_port is not None:
        llm = start_llm(port=llm_port, log_path=run_dir / "llm.log", environ=base)
    env = start_service(
        "env_service",
        port=env_port,
        log_path=run_dir / "env_service.log",
        environ=base,
        metrics_port=env_metrics,
    )
    store = start_service(
        "store_service",
        port=store_port,
        log_path=run_dir / "store_service.log",
        environ={**base, "STORE_DIR": str(store_dir)},
        metrics_port=store_metrics,
    )
    started = [env, store, *([llm] if llm else [])]
    llm_wiring = {"LLM_ADDR": llm.address} if llm else {}
    try:
        for service in started:
            service.wait_serving()
        agent = start_service(
            "agent_service",
            port=agent_port,
            log_path=run_dir / "agent_service.log",
            environ={**base, "ENV_ADDR": env.address, "STORE_ADDR": store.address, **llm_wiring},
            metrics_port=agent_metrics,
        )
        started.append(agent)
        agent.wait_serving()
    except BaseException:
        for service in started:
            service.stop()
        raise
    return Stack(env=env, store=store, agent=agent, llm=llm)
