"""`sluice service gateway`: the public HTTP (KFP REST, UI) and gRPC APIs."""

from __future__ import annotations

from pydantic import Field

from services.core.events.config import BusConfig
from services.core.events.nats_bus import NatsBus
from services.core.serving import configure_logging, serve_until_signal
from services.core.settings import CommonSettings
from services.gateway.backend import GatewayBackend
from services.gateway.config import GatewayConfig
from services.gateway.nats_events import NatsRunEventSource
from services.gateway.service import Gateway


class Settings(CommonSettings):
    http_host: str = Field(default="0.0.0.0", description="Interface of the HTTP API and UI.")
    http_port: int = Field(default=8888, description="Port of the HTTP API and UI.")
    grpc_host: str = Field(default="0.0.0.0", description="Interface of the public gRPC API.")
    grpc_port: int = Field(default=8889, description="Port of the public gRPC API.")
    scheduler_address: str = Field(default="127.0.0.1:50051", description="The scheduler's gRPC address.")
    artifacts_address: str = Field(
        default="127.0.0.1:50052", description="The artifact service's gRPC address."
    )


async def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; the exit status (see `serve_until_signal`)."""
    # It ensures the shared streams too: with the same settings as the other services, or
    # whichever started last would impose its own.
    bus_config = BusConfig(ack_wait=settings.dispatch_ack_wait_seconds)
    bus = NatsBus(settings.nats_url, config=bus_config, name="sluice-gateway")
    backend = GatewayBackend.connect(
        scheduler_address=settings.scheduler_address,
        artifacts_address=settings.artifacts_address,
        events=NatsRunEventSource(bus),
    )
    gateway = Gateway(
        backend=backend,
        config=GatewayConfig(
            http_host=settings.http_host,
            http_port=settings.http_port,
            grpc_host=settings.grpc_host,
            grpc_port=settings.grpc_port,
        ),
    )

    async def start() -> None:
        await bus.start()
        await bus.ensure_streams()
        await gateway.start()

    async def stop() -> None:
        await gateway.aclose()
        await bus.aclose()

    return await serve_until_signal(start, stop, fatal={"the NATS connection is lost": bus.lost})


def main() -> None:
    import asyncio
    import sys

    settings = Settings()
    configure_logging(settings.log_level)
    sys.exit(asyncio.run(serve(settings)))


if __name__ == "__main__":
    main()
