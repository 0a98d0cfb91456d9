"""alfagent_common.metrics: a registry per service, served over HTTP on METRICS_PORT (0: off).

In this process and as the real `python -m store_service`: what a scrape shows, that METRICS_PORT=0
leaves nothing listening, and that a port already taken stops the service with one line.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from prometheus_client import Counter

from alfagent_common.metrics import MetricsServer, bind_address, new_registry
from alfagent_common.settings import ConfigError
from launcher.llm import free_port
from tests.conftest import scrubbed_environ
from tests.observability.scrape import scrape
from tests.store.store_harness import REPO, StoreProcess


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def listening_ports(pid: int) -> set[int]:
    return {
        connection.laddr.port
        for connection in psutil.Process(pid).net_connections(kind="tcp")
        if connection.status == psutil.CONN_LISTEN
    }


def test_a_scrape_shows_the_registry_and_the_process_metrics_and_stops_with_the_server() -> None:
    registry = new_registry()
    Counter("alfagent_things", "Things", registry=registry).inc(3)
    server = MetricsServer(registry, port=free_port(), host="127.0.0.1")
    port = server.start()
    try:
        assert port == server.port and server.bound_port == port
        scraped = scrape(port)
        assert scraped.value("alfagent_things_total") == 3
        assert scraped.value("process_resident_memory_bytes") > 0
        assert scraped.family_types["python_info"] == "gauge"
        assert not any(sample.name.endswith("_created") for sample in scraped.samples)
    finally:
        server.stop()
    assert server.bound_port == 0
    with pytest.raises(urllib.error.URLError):
        scrape(port, timeout=2)


def test_two_registries_in_one_process_count_apart() -> None:
    first, second = new_registry(), new_registry()
    Counter("alfagent_things", "Things", registry=first).inc(1)
    Counter("alfagent_things", "Things", registry=second).inc(2)
    servers = [MetricsServer(registry, port=free_port(), host="127.0.0.1") for registry in (first, second)]
    try:
        ports = [server.start() for server in servers]
        assert [scrape(port).value("alfagent_things_total") for port in ports] == [1, 2]
    finally:
        for server in servers:
            server.stop()


def test_port_0_serves_nothing() -> None:
    server = MetricsServer(new_registry(), port=0)
    assert server.start() == 0 and server.bound_port == 0
    server.stop()


def test_a_port_in_use_is_a_config_error_naming_the_variable(taken_port: int) -> None:
    server = MetricsServer(new_registry(), port=taken_port, host="127.0.0.1")
    with pytest.raises(
        ConfigError, match=rf"^METRICS_PORT={taken_port}: cannot serve metrics on 127\.0\.0\.1"
    ):
        server.start()


def test_the_wildcard_host_serves_ipv4_too() -> None:
    assert bind_address("[::]") == "::" and bind_address("0.0.0.0") == "0.0.0.0"
    server = MetricsServer(new_registry(), port=free_port(), host="[::]")
    try:
        assert scrape(server.start()).value("process_open_fds") > 0
    finally:
        server.stop()


def test_the_store_with_metrics_port_0_listens_on_its_grpc_port_only(tmp_path: Path) -> None:
    with StoreProcess(tmp_path / "store", {"METRICS_PORT": "0"}) as store:
        assert store.logged("serving")[0]["metrics_port"] == 0
        assert store.process is not None
        assert listening_ports(store.process.pid) == {store.port}


def test_the_store_serves_its_metrics_on_metrics_port(tmp_path: Path) -> None:
    port = free_port()
    with StoreProcess(tmp_path / "store", {"METRICS_PORT": str(port)}) as store:
        assert store.logged("serving")[0]["metrics_port"] == port
        assert store.process is not None
        assert listening_ports(store.process.pid) == {store.port, port}
        assert scrape(port).value("alfagent_store_appends_total", result="stored") == 0


def test_a_metrics_port_in_use_stops_the_store_with_one_line(tmp_path: Path, taken_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "store_service"],
        cwd=REPO,
        env=scrubbed_environ(
            PORT="0", HOST="127.0.0.1", STORE_DIR=str(tmp_path / "store"), METRICS_PORT=str(taken_port)
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"store_service: METRICS_PORT={taken_port}: cannot serve metrics on 127.0.0.1:{taken_port} "
        "(Address already in use); choose a free port, or 0 to serve no metrics"
    ]
