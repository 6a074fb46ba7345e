"""`sluice service scheduler`: the DAG engine and the metadata API."""

from __future__ import annotations

import asyncio
import sys

import grpc
from pydantic import Field

from services.artifacts.client import ArtifactClient
from services.core.events.config import BusConfig
from services.core.events.nats_bus import NatsBus
from services.core.serving import configure_logging, serve_until_signal
from services.core.store.factory import open_store
from services.core.store.records import ArtifactRecord
from services.scheduler.service import SchedulerService
from services.scheduler.webhooks import WebhookConfig, WebhookSettings


class Settings(WebhookSettings):
    scheduler_host: str = Field(default="0.0.0.0", description="Interface of the scheduler's gRPC API.")
    scheduler_port: int = Field(default=50051, description="Port of the scheduler's gRPC API.")
    artifacts_address: str = Field(
        default="127.0.0.1:50052", description="The artifact service's gRPC address."
    )
    default_pipeline_root: str = Field(
        default="minio://sluice/pipelines",
        description="Where task outputs go when neither the run nor the pipeline names a root.",
    )


class _Registrar:
    def __init__(self, client: ArtifactClient) -> None:
        self._client = client

    async def register(self, records: list[ArtifactRecord]) -> None:
        await self._client.register(records)


async def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; the exit status (see `serve_until_signal`)."""
    bus = NatsBus(settings.nats_url, config=BusConfig(ack_wait=settings.dispatch_ack_wait_seconds))
    store = open_store(settings.store_url)
    channel = grpc.aio.insecure_channel(settings.artifacts_address)
    service = SchedulerService(
        store=store,
        bus=bus,
        artifacts=_Registrar(ArtifactClient(channel)),
        default_pipeline_root=settings.default_pipeline_root,
        host=settings.scheduler_host,
        port=settings.scheduler_port,
        webhooks=WebhookConfig.from_settings(settings),
    )

    async def start() -> None:
        await bus.start()
        await bus.ensure_streams()
        await store.start()
        await service.start()

    async def stop() -> None:
        await service.aclose()
        await channel.close(None)
        await store.aclose()
        await bus.aclose()

    return await serve_until_signal(start, stop, fatal={"the NATS connection is lost": bus.lost})


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    sys.exit(asyncio.run(serve(settings)))


if __name__ == "__main__":
    main()
