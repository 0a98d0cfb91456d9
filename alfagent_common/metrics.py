"""Prometheus metrics over HTTP: the one way every service serves its own.

Each service process keeps its metrics in a `CollectorRegistry` of its own (`new_registry`), never
the library's global one: tests run several services in one process, and each must count only
its own. The registry also holds the process (`process_*`), platform (`python_info`) and garbage
collector (`python_gc_*`) metrics the library gives. What a service counts is defined in its own
`metrics.py` (agent_service, env_service, store_service); nothing here knows any of it.

`MetricsServer` serves a registry in the Prometheus text format on METRICS_PORT (0: off) with the
library's own HTTP server (`prometheus_client.start_http_server`), which runs on a thread of its
own. Why a thread rather than a handler on the service's event loop:
- the exposition is the library's, all of it (content negotiation with OpenMetrics, gzip,
  `name[]` filters), with no new dependency: an asyncio handler would need aiohttp or HTTP
  written by hand;
- a scrape never runs on the event loop: collecting (the store walks its directory for its size,
  the process collector reads /proc) happens on the server's thread, so a scrape delays no RPC
  beyond its share of the GIL. Collectors that read a service's state from that thread read only
  single values (a `len()`, an int attribute), which the GIL keeps whole.
`alfagent_common.server.serve` starts it once the gRPC server is up and before the service's own
start-up (a metrics port in use stops the service at once, with a one-line message: `ConfigError`),
and stops it after the service's own shutdown.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)

from alfagent_common.settings import ConfigError

log = logging.getLogger(__name__)

# Every metric a service defines is named alfagent_<...> (DESIGN.md, "Observability").
PREFIX = "alfagent_"

# Where IPv6 is absent (a kernel booted without it), the wildcard address falls back to IPv4's.
_NO_IPV6 = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL)


def new_registry() -> CollectorRegistry:
    """A registry of a service's own, holding the process, platform and GC metrics the library gives."""
    # No `*_created` series beside every counter and histogram: in the Prometheus text format
    # each is one more series, the time the metric was made (the process's start tells as much).
    # A switch of the library's, for the whole process.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client 0.26 leaves it unannotated
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def bind_address(host: str) -> str:
    """HOST as the HTTP server takes it: `[::]` (gRPC's spelling) is `::`."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


class MetricsServer:
    """Serves `registry` on `host:port` while the service runs; port 0: nothing is served."""

    def __init__(self, registry: CollectorRegistry, *, port: int, host: str = "[::]") -> None:
        self.registry = registry
        self.port = port
        self.host = host
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def bound_port(self) -> int:
        """The port being served (0 when off or stopped)."""
        return int(self._server.server_address[1]) if self._server is not None else 0

    def start(self) -> int:
        """Listen (unless port 0); the bound port. ConfigError when the port cannot be had."""
        if self.port == 0 or self._server is not None:
            return self.bound_port
        address = bind_address(self.host)
        try:
            try:
                self._server, self._thread = start_http_server(self.port, address, self.registry)
            except OSError as error:
                if address != "::" or error.errno not in _NO_IPV6:
                    raise
                self._server, self._thread = start_http_server(self.port, "0.0.0.0", self.registry)
        except (OSError, OverflowError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise ConfigError(
                f"METRICS_PORT={self.port}: cannot serve metrics on {self.host}:{self.port} ({reason}); "
                "choose a free port, or 0 to serve no metrics"
            ) from None
        log.info("serving metrics", extra={"metrics_port": self.bound_port})
        return self.bound_port

    def stop(self) -> None:
        """Stop listening and wait for the server's thread (blocks up to its 0.5 s poll)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._thread.join(5)
            self._thread = None
