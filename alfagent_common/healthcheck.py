"""`python -m alfagent_common.healthcheck HOST:PORT [SERVICE]`: exit 0 only if the service is SERVING.

The containers' healthcheck: it asks the standard grpc.health.v1.Health service, so "healthy"
means exactly what the service itself reports (e.g. env workers started, store recovered).
"""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(address: str, service: str = "", timeout_seconds: float = 3.0) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_seconds)
        except grpc.RpcError as error:
            print(f"{address}: {error.code().name}", file=sys.stderr)
            return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    address, service = sys.argv[1], (sys.argv[2] if len(sys.argv) == 3 else "")
    return 0 if check(address, service) else 1


if __name__ == "__main__":
    sys.exit(main())
