"""`sluice service executor`: pulls task dispatches and runs them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import grpc
from pydantic import Field

from services.artifacts.client import ArtifactClient
from services.core.events.config import BusConfig
from services.core.events.nats_bus import NatsBus
from services.core.health import add_health, mark_serving
from services.core.serving import configure_logging, serve_until_signal
from services.core.settings import CommonSettings
from services.executor.launchers.local import LocalLauncher
from services.executor.remote_staging import ArtifactServiceStager
from services.executor.worker import ExecutorWorker


class Settings(CommonSettings):
    artifacts_address: str = Field(
        default="127.0.0.1:50052", description="The artifact service's gRPC address."
    )
    executor_launcher: str = Field(default="local", description="`local` (processes) or `kubernetes` (pods).")
    executor_max_concurrent_tasks: int = Field(
        default=max(os.cpu_count() or 1, 1) * 2, description="Tasks this executor runs at once."
    )
    executor_work_dir: Path = Field(default=Path("data/work"), description="Per-attempt working directories.")
    executor_id: str = Field(default="", description="Name in task details; default: a random id.")
    executor_health_port: int = Field(default=50053, description="Port of the gRPC health service (probes).")
    executor_grace_seconds: float = Field(
        default=30.0, description="On shutdown, running tasks get this long before they are stopped."
    )


async def serve(settings: Settings) -> None:
    if settings.executor_launcher != "local":
        raise SystemExit(
            f"launcher {settings.executor_launcher!r} is not available in this build; use 'local'"
        )
    bus_config = BusConfig(ack_wait=settings.dispatch_ack_wait_seconds)
    bus = NatsBus(settings.nats_url, config=bus_config, name="sluice-executor")
    channel = grpc.aio.insecure_channel(settings.artifacts_address)
    client = ArtifactClient(channel)
    launcher = LocalLauncher(runtime_dir=settings.executor_work_dir)
    worker = ExecutorWorker(
        bus=bus,
        artifacts=client,
        launcher=launcher,
        stager=ArtifactServiceStager(client),
        work_root=settings.executor_work_dir,
        max_concurrent_tasks=settings.executor_max_concurrent_tasks,
        heartbeat_seconds=bus_config.ack_wait / 3,
        executor_id=settings.executor_id,
    )
    health_server = grpc.aio.server()
    health = add_health(health_server)
    health_server.add_insecure_port(f"0.0.0.0:{settings.executor_health_port}")

    async def start() -> None:
        settings.executor_work_dir.mkdir(parents=True, exist_ok=True)
        await bus.start()
        await bus.ensure_streams()
        await worker.start()
        await health_server.start()
        await mark_serving(health)

    async def stop() -> None:
        await health_server.stop(1.0)
        await worker.aclose(grace_seconds=settings.executor_grace_seconds)
        await launcher.aclose()
        await channel.close(None)
        await bus.aclose()

    await serve_until_signal(start, stop)


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
