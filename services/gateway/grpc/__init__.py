"""The gateway's gRPC front door."""

from __future__ import annotations

from services.gateway.grpc.front_door import GrpcFrontDoor

__all__ = ["GrpcFrontDoor"]
