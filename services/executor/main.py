"""`sluice service executor`: pulls task dispatches and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from pydantic import Field

from services.artifacts.client import ArtifactClient
from services.core.events.config import BusConfig
from services.core.events.nats_bus import NatsBus
from services.core.health import add_health, mark_serving
from services.core.serving import configure_logging, serve_until_signal
from services.core.settings import CommonSettings
from services.executor.launchers.base import Launcher
from services.executor.launchers.kubernetes import KubernetesLauncherConfig
from services.executor.launchers.local import LocalLauncher
from services.executor.remote_staging import ArtifactServiceStager
from services.executor.worker import ExecutorWorker

if TYPE_CHECKING:
    from services.executor.launchers.kubernetes import KubernetesLauncher

LAUNCHERS = ("local", "kubernetes")


class Settings(CommonSettings):
    artifacts_address: str = Field(
        default="127.0.0.1:50052", description="The artifact service's gRPC address."
    )
    executor_launcher: str = Field(
        default="local", description="`local` (a process per task) or `kubernetes` (a pod per task)."
    )
    executor_max_concurrent_tasks: int = Field(
        default=max(os.cpu_count() or 1, 1) * 2, description="Tasks this executor runs at once."
    )
    executor_work_dir: Path = Field(
        default=Path("data/work"),
        description="Per-attempt working directories (made absolute: pods mount them at the same path).",
    )
    executor_id: str = Field(default="", description="Name in task details; default: a random id.")
    executor_health_host: str = Field(default="0.0.0.0", description="Interface of the gRPC health service.")
    executor_health_port: int = Field(default=50053, description="Port of the gRPC health service (probes).")
    executor_grace_seconds: float = Field(
        default=30.0, description="On shutdown, running tasks get this long before they are stopped."
    )
    executor_log_upload_seconds: float = Field(
        default=1.0,
        ge=0,
        description=(
            "How often a running task's log is copied to the artifact store, to be followed live; "
            "0: only at the end."
        ),
    )
    kubernetes_namespace: str = Field(
        default="default", description="`kubernetes` launcher: the namespace of the task pods."
    )
    kubernetes_service_account: str = Field(
        default="",
        description="`kubernetes` launcher: the task pods' service account; "
        "the namespace's default when empty.",
    )
    kubernetes_api_url: str = Field(
        default="",
        description="`kubernetes` launcher: a Kubernetes API URL without credentials (e.g. `kubectl proxy`); "
        "when empty, the kubeconfig settings, else the executor pod's service account (in cluster).",
    )
    kubernetes_kubeconfig: str = Field(
        default="",
        description="`kubernetes` launcher outside the cluster: a kubeconfig file "
        "(with `kubernetes_context` alone: the default kubeconfig).",
    )
    kubernetes_context: str = Field(
        default="", description="`kubernetes` launcher: the kubeconfig context; its current one when empty."
    )
    kubernetes_exchange_host: str = Field(
        default="0.0.0.0",
        description="`kubernetes` launcher: the address of the file exchange task pods fetch inputs "
        "from and send outputs to.",
    )
    kubernetes_exchange_port: int = Field(
        default=8790, description="`kubernetes` launcher: the file exchange's port."
    )
    kubernetes_exchange_url: str = Field(
        default="",
        description="`kubernetes` launcher: the base URL task pods reach the file exchange at; "
        "default `http://<POD_IP>:<kubernetes_exchange_port>`.",
    )
    pod_ip: str = Field(
        default="",
        validation_alias="POD_IP",
        description="`POD_IP` (no prefix): the executor pod's IP (Kubernetes downward API, `status.podIP`), "
        "which the default exchange URL names.",
    )


def executor_id_of(settings: Settings) -> str:
    """The configured id, or a random one: the same for the worker and its pods' label."""
    return settings.executor_id or f"executor-{uuid.uuid4().hex[:8]}"


def exchange_url_of(settings: Settings) -> str:
    """The URL task pods reach the file exchange at; raises SystemExit when unknown."""
    if settings.kubernetes_exchange_url:
        return settings.kubernetes_exchange_url
    if not settings.pod_ip:
        raise SystemExit(
            "the kubernetes launcher needs the URL task pods reach this executor at: "
            "set POD_IP (from status.podIP) or SLUICE_KUBERNETES_EXCHANGE_URL"
        )
    try:
        address = ipaddress.ip_address(settings.pod_ip)
    except ValueError:
        raise SystemExit(f"POD_IP {settings.pod_ip!r} is not an IP address") from None
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{host}:{settings.kubernetes_exchange_port}"


def kubernetes_launcher_config(settings: Settings, *, executor_id: str) -> KubernetesLauncherConfig:
    return KubernetesLauncherConfig(
        namespace=settings.kubernetes_namespace,
        service_account=settings.kubernetes_service_account,
        exchange_host=settings.kubernetes_exchange_host,
        exchange_port=settings.kubernetes_exchange_port,
        exchange_url=exchange_url_of(settings),
        executor_id=executor_id,
    )


def kubernetes_api_client(settings: Settings) -> Any:
    """A `kubernetes` `ApiClient`: the URL, else the kubeconfig, else the pod's service account."""
    # Imported here: only the Kubernetes launcher needs the `kubernetes` client package.
    from services.executor.launchers.kubernetes import make_api_client

    if settings.kubernetes_api_url:
        return make_api_client(host=settings.kubernetes_api_url)
    if settings.kubernetes_kubeconfig or settings.kubernetes_context:
        return make_api_client(kubeconfig=settings.kubernetes_kubeconfig, context=settings.kubernetes_context)
    return make_api_client(in_cluster=True)


def build_launcher(
    settings: Settings, *, work_dir: Path, executor_id: str
) -> tuple[Launcher, contextlib.AbstractAsyncContextManager[object]]:
    """The launcher the settings choose, and its lifetime: enter it before the worker
    starts, leave it after the worker is closed."""
    if settings.executor_launcher == "local":
        local = LocalLauncher(runtime_dir=work_dir)
        return local, contextlib.aclosing(local)
    # Imported here: only this launcher needs the `kubernetes` client package.
    from services.executor.launchers.kubernetes import KubernetesLauncher

    config = kubernetes_launcher_config(settings, executor_id=executor_id)
    api_client = kubernetes_api_client(settings)
    launcher = KubernetesLauncher(api_client, config)
    return launcher, _kubernetes_lifetime(launcher, api_client)


@contextlib.asynccontextmanager
async def _kubernetes_lifetime(launcher: KubernetesLauncher, api_client: Any) -> AsyncIterator[object]:
    try:
        async with launcher:
            yield launcher
    finally:
        api_client.close()


async def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; the exit status (see `serve_until_signal`)."""
    if settings.executor_launcher not in LAUNCHERS:
        known = ", ".join(LAUNCHERS)
        raise SystemExit(f"unknown launcher {settings.executor_launcher!r}; use one of {known}")
    # Absolute: a task pod mounts the attempt directory at the same path.
    work_dir = settings.executor_work_dir.resolve()
    executor_id = executor_id_of(settings)
    bus_config = BusConfig(ack_wait=settings.dispatch_ack_wait_seconds)
    bus = NatsBus(settings.nats_url, config=bus_config, name="sluice-executor")
    channel = grpc.aio.insecure_channel(settings.artifacts_address)
    client = ArtifactClient(channel)
    launcher, launcher_lifetime = build_launcher(settings, work_dir=work_dir, executor_id=executor_id)
    worker = ExecutorWorker(
        bus=bus,
        artifacts=client,
        launcher=launcher,
        stager=ArtifactServiceStager(client),
        work_root=work_dir,
        max_concurrent_tasks=settings.executor_max_concurrent_tasks,
        heartbeat_seconds=bus_config.ack_wait / 3,
        executor_id=executor_id,
        stage_local_artifacts=settings.executor_launcher == "kubernetes",
        log_upload_seconds=settings.executor_log_upload_seconds,
    )
    health_server = grpc.aio.server()
    health = add_health(health_server)
    health_server.add_insecure_port(f"{settings.executor_health_host}:{settings.executor_health_port}")
    launchers = contextlib.AsyncExitStack()

    async def start() -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        await launchers.enter_async_context(launcher_lifetime)
        await bus.start()
        await bus.ensure_streams()
        await worker.start()
        await health_server.start()
        await mark_serving(health)

    async def stop() -> None:
        await health_server.stop(1.0)
        await worker.aclose(grace_seconds=settings.executor_grace_seconds)
        # After the worker: its attempts stop their processes or pods through the launcher.
        await launchers.aclose()
        await channel.close(None)
        await bus.aclose()

    return await serve_until_signal(start, stop, fatal={"the NATS connection is lost": bus.lost})


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    sys.exit(asyncio.run(serve(settings)))


if __name__ == "__main__":
    main()
