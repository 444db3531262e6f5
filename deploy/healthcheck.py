"""Container health check: is the matcher SERVING on its local health listener?

``crossforce serve --health-port N`` answers the standard ``grpc.health.v1`` service in plaintext on
127.0.0.1:N (no client certificate), so this needs nothing but grpcio and grpcio-health-checking, both
already installed with the server. Exit 0 when SERVING; 1 otherwise (NOT_SERVING while storage cannot be
written, or no answer within the timeout), which is what Docker's HEALTHCHECK and Kubernetes exec probes
expect. Usage: ``python healthcheck.py [PORT]`` (default 8081).
"""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_PORT = 8081
TIMEOUT_S = 3.0


def main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 else DEFAULT_PORT
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_S
            )
        except grpc.RpcError as exc:
            print(f"unhealthy: {exc.code().name}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(status)
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
