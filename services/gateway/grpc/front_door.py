"""The gateway's gRPC server: Sluice's public gRPC API at one address."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

import grpc

from services.core.errors import FailedPrecondition
from services.gateway.backend import GatewayBackend, channel_options
from services.gateway.config import MiB
from services.gateway.grpc.forwarding import forwarding_handlers
from services.gateway.grpc.task_logs import READ_TASK_LOG_PATH, TaskLogReader
from services.gateway.grpc.watch import WATCH_RUN_PATH, RunWatcher


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GrpcFrontDoor:
    """Serves every ``sluice.v1.*Service`` method: each is forwarded, as raw bytes, to the
    backend that owns it, except ``RunService/WatchRun``, served here from the backend's
    event source, and ``RunService/ReadTaskLog``, served here from the artifact store."""

    def __init__(
        self,
        *,
        backend: GatewayBackend,
        host: str = "127.0.0.1",
        port: int = 0,
        max_message_bytes: int = 64 * MiB,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self._backend = backend
        self._host = host
        self._requested_port = port
        self._max_message_bytes = max_message_bytes
        self._stopping = stopping or asyncio.Event()
        self._server: grpc.aio.Server | None = None
        self._port = 0
        self._closed = False

    @property
    def port(self) -> int:
        """The bound port; 0 until `start`."""
        return self._port

    @property
    def address(self) -> str:
        """``host:port`` to dial."""
        return host_port(self._host, self._port)

    async def start(self) -> None:
        """Bind and serve.

        Raises:
            FailedPrecondition: started or closed already.
            RuntimeError: the address cannot be bound.
        """
        if self._server is not None or self._closed:
            raise FailedPrecondition("the gRPC front door can be started once")
        watcher = RunWatcher(self._backend, stopping=self._stopping)
        logs = TaskLogReader(self._backend, stopping=self._stopping)
        # Without SO_REUSEPORT off, a second gateway on a taken port would start and share it.
        options = [*channel_options(self._max_message_bytes), ("grpc.so_reuseport", 0)]
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers(
            forwarding_handlers(
                self._backend,
                served_here={WATCH_RUN_PATH: watcher.handler(), READ_TASK_LOG_PATH: logs.handler()},
            )
        )
        self._server = server
        self._port = server.add_insecure_port(host_port(self._host, self._requested_port))
        await server.start()

    async def aclose(self, grace: float | None = 5.0) -> None:
        """Refuse new calls, end the watches, let other calls finish within ``grace``
        seconds, then cancel them. Idempotent. The backend stays open."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        if self._server is not None:
            await self._server.stop(grace)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
