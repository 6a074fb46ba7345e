"""The standard gRPC health service (`grpc.health.v1`), for probes and load balancers."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer


def add_health(server: grpc.aio.Server) -> HealthServicer:
    """Register the health service; `mark_serving` once the service is ready."""
    servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer


async def mark_serving(servicer: HealthServicer, *service_names: str) -> None:
    for name in ("", *service_names):
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)


async def mark_not_serving(servicer: HealthServicer, *service_names: str) -> None:
    for name in ("", *service_names):
        await servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
