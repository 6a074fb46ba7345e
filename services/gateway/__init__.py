"""The gateway: Sluice's public APIs (KFP v2beta1 REST + Sluice extensions over HTTP, and
the gRPC front door) in front of the scheduler and artifact services.

`services.gateway.nats_events.NatsRunEventSource` reads live events from the event bus.
"""

from __future__ import annotations

from services.gateway.backend import GatewayBackend
from services.gateway.config import GatewayConfig
from services.gateway.events import InMemoryRunEventSource, RunEventSource
from services.gateway.grpc import GrpcFrontDoor
from services.gateway.http import create_http_app
from services.gateway.service import Gateway

__all__ = [
    "Gateway",
    "GatewayBackend",
    "GatewayConfig",
    "GrpcFrontDoor",
    "InMemoryRunEventSource",
    "RunEventSource",
    "create_http_app",
]
